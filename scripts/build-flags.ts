// The `bun build --compile` options of the shipped executables, shared by scripts/build.ts and the
// start-up benchmark (scripts/bench/startup.ts), which measures them against the alternatives.
//   --bytecode   skips parsing at start-up; with --compile it requires ESM output.
//   --minify     smaller bytecode to load.
//   --splitting  puts what main.ts imports with import() (the node, the admin server, consola's
//                pretty reporters, the client commands) in chunks loaded only when imported: in
//                one bundle, every node:* built-in any module imports is loaded before the first
//                line runs, node:crypto and node:net for the admin server among them.
//   --compile-jit-policy=8  makes the JIT 8 times more reluctant while the node starts: start-up
//                code runs once, and compiling it touched about 200 more pages of the runtime.
//                src/cli/run-node.ts sets the normal policy back once the node listens.
export const SHIPPED_BUILD_FLAGS = ["--bytecode", "--format=esm", "--minify", "--splitting", "--compile-jit-policy=8"] as const;
