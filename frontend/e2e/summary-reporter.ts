// Prints one plain closing line, "e2e: N passed, N failed[, N skipped]", that
// CI log readers understand regardless of Playwright's own formatting; before it, the figures
// tests report as `metric` annotations (the time to first frame, settings.spec.ts).
import type { FullResult, Reporter, TestCase, TestResult } from '@playwright/test/reporter';

export default class SummaryReporter implements Reporter {
  private outcome = new Map<string, ReturnType<TestCase['outcome']>>();
  private metrics = new Map<string, string[]>();

  onTestEnd(test: TestCase, result: TestResult) {
    this.outcome.set(test.id, test.outcome());
    const found = [...(result.annotations ?? []), ...test.annotations].filter((a) => a.type === 'metric' && a.description);
    this.metrics.set(test.id, [...new Set(found.map((a) => a.description!))]); // the last retry's figures
  }

  onEnd(result: FullResult) {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const o of this.outcome.values()) {
      if (o === 'expected' || o === 'flaky') passed++;
      else if (o === 'skipped') skipped++;
      else failed++;
    }
    if (result.status !== 'passed' && failed === 0) failed = 1; // setup/teardown or run failure
    const metrics = [...this.metrics.values()].flat();
    if (metrics.length) console.log(`\n${metrics.map((m) => `e2e metric: ${m}`).join('\n')}`);
    console.log(`\ne2e: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  }

  printsToStdio() {
    return false;
  }
}
