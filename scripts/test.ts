// Runs the whole test suite with Bun's JUnit reporter and prints the one line CI reads:
// "N passed, N failed, N skipped". Bun's own summary is for humans; the XML is the record.
// Exits non-zero when anything failed or when no test ran at all.
import { mkdirSync, existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { countJunitResults } from "./junit.ts";

const outDir = join(import.meta.dir, "..", ".junit");
const outFile = join(outDir, "results.xml");
mkdirSync(outDir, { recursive: true });
if (existsSync(outFile)) rmSync(outFile);

const extraArgs = process.argv.slice(2);
const child = Bun.spawn(
  // bunfig.toml's [test] timeout is not honoured by this Bun; the flag is. Tests that need longer
  // set their own with setDefaultTimeout.
  [process.execPath, "test", "--timeout=60000", "--reporter=junit", `--reporter-outfile=${outFile}`, ...extraArgs],
  { stdout: "inherit", stderr: "inherit", env: process.env },
);
const exitCode = await child.exited;

if (!existsSync(outFile)) {
  console.error(`bun test wrote no JUnit report (exit code ${exitCode})`);
  console.log("0 passed, 1 failed");
  process.exit(1);
}
const counts = countJunitResults(readFileSync(outFile, "utf8"));
console.log(`${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
if (counts.failed > 0 || counts.passed === 0 || exitCode !== 0) process.exit(1);
