import { expect, test } from "bun:test";
import { countJunitResults } from "../scripts/junit.ts";

test("counts passed, failed, errored and skipped test cases", () => {
  const xml = `<?xml version="1.0"?><testsuites><testsuite name="a">
    <testcase name="ok" time="0.1" />
    <testcase name="ok2"></testcase>
    <testcase name="bad"><failure message="x">boom</failure></testcase>
    <testcase name="err"><error message="y"/></testcase>
    <testcase name="skip"><skipped /></testcase>
  </testsuite></testsuites>`;
  expect(countJunitResults(xml)).toEqual({ passed: 2, failed: 2, skipped: 1 });
});

test("an empty report counts nothing", () => {
  expect(countJunitResults("<testsuites></testsuites>")).toEqual({ passed: 0, failed: 0, skipped: 0 });
});
