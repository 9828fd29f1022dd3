// What the command loads before a node listens. Start-up time is mostly module loading (see
// docs/BENCHMARKS.md, "Command line and executables"): node:crypto, node:net, node:util and
// node:fs each cost several ms, and a static import anywhere on the path loads them before the
// first line runs. These tests walk the real import graph of the sources and run the real logger.

import { describe, expect, test } from "bun:test";
import { dirname, join, relative } from "node:path";
import { repoRoot } from "./support/node-processes.ts";

interface ImportGraph {
  /** Source files reached, relative to the repository. */
  files: Set<string>;
  /** Imports that are not source files: node:* built-ins and packages. */
  external: Set<string>;
}

const transpiler = new Bun.Transpiler({ loader: "ts" });

/** Follows static imports only (not import(), not type-only imports) from the given files. */
async function staticImports(entries: readonly string[]): Promise<ImportGraph> {
  const graph: ImportGraph = { files: new Set(), external: new Set() };
  const pending = entries.map((entry) => join(repoRoot, entry));
  while (pending.length > 0) {
    const file = pending.pop() as string;
    const name = relative(repoRoot, file);
    if (graph.files.has(name)) continue;
    graph.files.add(name);
    if (!file.endsWith(".ts")) continue; // package.json
    const source = (await Bun.file(file).text()).replace(/^#!.*/, "");
    for (const { kind, path } of transpiler.scan(source).imports) {
      if (kind !== "import-statement") continue;
      if (path.startsWith(".")) pending.push(join(dirname(file), path));
      else graph.external.add(path);
    }
  }
  return graph;
}

/** What main.ts imports with import() to run a node (the other one is the client commands). */
const RUN_PATH_IMPORTS = ["src/config/merge.ts", "src/cli/logging.ts", "src/cli/run-node.ts"];

describe("modules loaded before a node listens", () => {
  test("the run path imports only cheap node:* built-ins, and neither the admin server, consola's main entry nor the config file parsers", async () => {
    const graph = await staticImports(["src/cli/main.ts", ...RUN_PATH_IMPORTS]);
    // The walk reaches the node itself, so an empty result cannot pass for a clean one.
    expect(graph.files).toContain("src/transport/tcp.ts");
    expect(graph.files).toContain("src/gossip/engine.ts");
    // Measured in a compiled program: node:buffer and node:os add about 50 page faults each to an
    // empty start, node:net about 300 and some 8 ms of CPU. Measure a built-in before adding it.
    const CHEAP_BUILTINS = ["node:buffer", "node:os"];
    const builtins = [...graph.external].filter((name) => name.startsWith("node:"));
    expect(builtins.filter((name) => !CHEAP_BUILTINS.includes(name))).toEqual([]);
    expect([...graph.external].filter((name) => !name.startsWith("node:")).sort()).toEqual(["consola/core", "valibot"]);
    expect([...graph.files].filter((file) => file.startsWith("src/admin/"))).toEqual([]);
    // The config file parsers load only when a file is given.
    expect(graph.files).not.toContain("src/config/load.ts");
    expect(graph.files).not.toContain("src/config/go-names.ts");
  });

  test("--version, --help, usage errors and the subcommands do not build the option schemas", async () => {
    const graph = await staticImports(["src/cli/main.ts", "src/cli/client-commands.ts"]);
    expect(graph.files).toContain("src/config/flags.ts");
    expect(graph.files).not.toContain("src/config/schema.ts");
    expect([...graph.external]).toEqual([]);
  });
});

/** Runs `script` in a fresh Bun process from the repository root. */
async function runScript(script: string): Promise<{ stdout: string; stderr: string }> {
  const child = Bun.spawn([process.execPath, "--eval", script], { cwd: repoRoot, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    expect(code).toBe(0);
    return { stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

describe("pretty logging", () => {
  test("consola's main entry loads at the first line the level lets through, and that line is printed", async () => {
    const { stdout, stderr } = await runScript(`
      import { createLogger } from "./src/cli/logging.ts";
      const consolaEntries = () => Object.keys(require.cache).filter((key) => /consola[\\\\/](lib|dist)[\\\\/]index/.test(key)).length;
      const logger = createLogger("warn", "pretty", "node-7");
      logger.info("below the level");
      logger.debug("below the level");
      console.log("loaded after filtered lines: " + consolaEntries());
      logger.warn("disk almost full", { percent: 97 });
      console.log("loaded after a printed line: " + (consolaEntries() > 0));
    `);
    expect(stdout).toContain("loaded after filtered lines: 0");
    expect(stdout).toContain("loaded after a printed line: true");
    expect(stdout + stderr).not.toContain("below the level");
    expect(stderr).toContain("disk almost full");
    expect(stderr).toContain("node-7");
    expect(stderr).toContain("percent: 97");
  });

  test("level silent prints nothing and never loads consola's main entry", async () => {
    const { stdout, stderr } = await runScript(`
      import { createLogger } from "./src/cli/logging.ts";
      const logger = createLogger("silent", "pretty");
      logger.error("not shown");
      console.log("loaded: " + Object.keys(require.cache).some((key) => /consola[\\\\/](lib|dist)[\\\\/]index/.test(key)));
    `);
    expect(stdout.trim()).toBe("loaded: false");
    expect(stderr).toBe("");
  });
});

describe("JSON logging", () => {
  test("a field named like one of the line's own keys never replaces it", async () => {
    const { stderr } = await runScript(`
      import { createLogger } from "./src/cli/logging.ts";
      createLogger("info", "json", "node-7").warn("refused a peer", { node: "node-9", msg: "field", level: "debug", peerName: "node-9" });
    `);
    const line = JSON.parse(stderr.trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ node: "node-7", msg: "refused a peer", level: "warn", peerName: "node-9" });
    expect(Object.keys(line).slice(0, 4)).toEqual(["time", "level", "node", "msg"]);
  });
});

