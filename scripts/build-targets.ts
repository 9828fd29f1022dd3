// The executables a build makes and a release packs: dist/goferbroke-<name>[suffix], each built
// with `bun build --compile --target=<bunTarget>`. The -baseline targets need only SSE4.2, not
// AVX2, so older Atom, Celeron and pre-Haswell x64 CPUs (common on edge devices) run them.
export const TARGETS = [
  { name: "linux-x64", bunTarget: "bun-linux-x64" },
  { name: "linux-x64-baseline", bunTarget: "bun-linux-x64-baseline" },
  { name: "linux-x64-musl", bunTarget: "bun-linux-x64-musl" },
  { name: "linux-x64-musl-baseline", bunTarget: "bun-linux-x64-musl-baseline" },
  { name: "linux-arm64", bunTarget: "bun-linux-arm64" },
  { name: "linux-arm64-musl", bunTarget: "bun-linux-arm64-musl" },
  { name: "darwin-x64", bunTarget: "bun-darwin-x64" },
  { name: "darwin-arm64", bunTarget: "bun-darwin-arm64" },
  { name: "windows-x64", bunTarget: "bun-windows-x64", suffix: ".exe" },
  { name: "windows-x64-baseline", bunTarget: "bun-windows-x64-baseline", suffix: ".exe" },
] as const;

export type Target = (typeof TARGETS)[number];

/** The targets of a comma-separated list of names; exits 2 naming the first unknown one. */
export function targetsNamed(list: string): Target[] {
  return list.split(",").map((name) => {
    const target = TARGETS.find((candidate) => candidate.name === name.trim());
    if (target) return target;
    console.error(`unknown target "${name.trim()}"; the targets are ${TARGETS.map((candidate) => candidate.name).join(", ")}`);
    process.exit(2);
  });
}
