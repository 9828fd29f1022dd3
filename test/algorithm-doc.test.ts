// docs/ALGORITHM.md points every invariant at the tests that check it. This keeps the page from
// drifting: each named test must exist, under exactly that title, in the file named, and every
// invariant must name at least one.

import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const DOC = readFileSync(join(ROOT, "docs/ALGORITHM.md"), "utf8");

interface Pointer {
  file: string;
  title: string;
  line: number;
}

interface Invariant {
  name: string;
  pointers: Pointer[];
}

/** Invariants start with a bold name; their pointers are the "- `test/…`: "title"" lines after it. */
function parseDoc(doc: string): { invariants: Invariant[]; malformed: string[] } {
  const invariants: Invariant[] = [];
  const malformed: string[] = [];
  doc.split("\n").forEach((text, index) => {
    const bold = /^\*\*(.+?)\*\*/.exec(text);
    if (bold) {
      invariants.push({ name: bold[1]!, pointers: [] });
      return;
    }
    if (!text.startsWith("- `test/")) return;
    const pointer = /^- `(test\/[\w.-]+\.test\.ts)`: "(.+)"$/.exec(text);
    if (!pointer || invariants.length === 0) {
      malformed.push(`line ${index + 1}: ${text}`);
      return;
    }
    invariants.at(-1)!.pointers.push({ file: pointer[1]!, title: pointer[2]!, line: index + 1 });
  });
  return { invariants, malformed };
}

/** The literal titles of the tests a file declares (test("…"), also split over lines); not test.skip/todo. */
function testTitles(source: string): Set<string> {
  const titles = new Set<string>();
  for (const match of source.matchAll(/\btest\(\s*(["'`])((?:\\.|(?!\1)[^\\])*)\1/g)) {
    const title = match[2]!;
    if (match[1] === "`" && title.includes("${")) continue; // computed titles cannot be named
    titles.add(title.replace(/\\(["'`\\])/g, "$1"));
  }
  return titles;
}

describe("docs/ALGORITHM.md", () => {
  const { invariants, malformed } = parseDoc(DOC);

  test("every pointer line is well formed and follows an invariant", () => {
    expect(malformed).toEqual([]);
  });

  test("names reconciliation and membership invariants, each with at least one test", () => {
    expect(invariants.length).toBeGreaterThanOrEqual(10);
    expect(invariants.filter((invariant) => invariant.pointers.length === 0).map((invariant) => invariant.name)).toEqual([]);
    for (const topic of ["safe floor", "collectedUpTo", "Generations", "fairness", "Removal and readmission"]) {
      expect(invariants.some((invariant) => invariant.name.includes(topic))).toBe(true);
    }
  });

  test("every test it names exists under exactly that title in the file named", () => {
    const titlesByFile = new Map<string, Set<string>>();
    const missing: string[] = [];
    for (const pointer of invariants.flatMap((invariant) => invariant.pointers)) {
      const path = join(ROOT, pointer.file);
      if (!existsSync(path)) {
        missing.push(`line ${pointer.line}: no file ${pointer.file}`);
        continue;
      }
      let titles = titlesByFile.get(pointer.file);
      if (!titles) titlesByFile.set(pointer.file, (titles = testTitles(readFileSync(path, "utf8"))));
      if (!titles.has(pointer.title)) missing.push(`line ${pointer.line}: no test "${pointer.title}" in ${pointer.file}`);
    }
    expect(missing).toEqual([]);
  });

  test("the membership units it lists exist", () => {
    const units = /^The units:([\s\S]*?)\n\n/m.exec(DOC)?.[1] ?? "";
    const files = [...units.matchAll(/`([\w-]+\.ts)`/g)].map((match) => match[1]!);
    expect(files.length).toBeGreaterThan(5);
    expect(files.filter((file) => !existsSync(join(ROOT, "src/membership", file)))).toEqual([]);
  });

  test("the title reader finds titles in all their forms, and only real tests", () => {
    const source = [
      'test("double", () => {});',
      "test('single \\'quoted\\'', () => {});",
      "test(\n  `template`,\n  () => {},\n);",
      "test(`computed ${n}`, () => {});",
      'test.skip("skipped", () => {});',
      'describe("a describe", () => {});',
    ].join("\n");
    expect([...testTitles(source)].sort()).toEqual(["double", "single 'quoted'", "template"]);
  });
});
