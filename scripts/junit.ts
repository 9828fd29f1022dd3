// Counts outcomes in a JUnit XML report by walking its <testcase> elements. A test case is
// failed when it holds <failure> or <error>, skipped when it holds <skipped>, else passed.
export interface JunitCounts {
  passed: number;
  failed: number;
  skipped: number;
}

const testcasePattern = /<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g;

export function countJunitResults(xml: string): JunitCounts {
  const counts: JunitCounts = { passed: 0, failed: 0, skipped: 0 };
  for (const match of xml.matchAll(testcasePattern)) {
    const inner = match[2] ?? "";
    if (/<(failure|error)\b/.test(inner)) counts.failed++;
    else if (/<skipped\b/.test(inner)) counts.skipped++;
    else counts.passed++;
  }
  return counts;
}
