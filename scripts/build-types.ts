// Declarations for TypeScript projects that use the package from npm: dist/types/**/*.d.ts.
// Bun runs src/*.ts directly (the "bun" export condition), but a project type-checking with
// moduleResolution nodenext (or node16) refuses imports ending in ".ts" inside node_modules
// (TS5097), so the "types" condition points here instead. tsc keeps the ".ts" specifiers in
// declarations; they are rewritten to ".js", which resolves to the .d.ts beside them.
//   bun scripts/build-types.ts      (npm pack and npm publish run it as prepack)
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const outDir = join(root, "dist", "types");
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
// Only what src/index.ts reaches is the package's surface (not the tests, scripts or simulator).
const config = join(root, "dist", "tsconfig.types.json");
writeFileSync(config, JSON.stringify({
  extends: "../tsconfig.json",
  compilerOptions: { noEmit: false, declaration: true, emitDeclarationOnly: true, rootDir: "../src", outDir: "types" },
  include: [],
  files: ["../src/index.ts"],
}));
const tsc = Bun.spawn([process.execPath, join(root, "node_modules", "typescript", "bin", "tsc"), "-p", config], { cwd: root, stdout: "inherit", stderr: "inherit" });
const exitCode = await tsc.exited;
rmSync(config);
if (exitCode !== 0) process.exit(1);

const relativeTs = /(from\s+|import\()(["'])(\.{1,2}\/[^"']+)\.ts\2/g;
let files = 0;
for (const file of readdirSync(outDir, { recursive: true, encoding: "utf8" })) {
  if (!file.endsWith(".d.ts")) continue;
  const path = join(outDir, file);
  writeFileSync(path, readFileSync(path, "utf8").replace(relativeTs, "$1$2$3.js$2"));
  files++;
}
console.log(`dist/types: ${files} declaration files`);
