// Prints one plain closing line, "e2e: N passed, N failed[, N skipped]", that
// CI log readers understand regardless of Playwright's own formatting.
import type { FullResult, Reporter, TestCase, TestResult } from '@playwright/test/reporter';

export default class SummaryReporter implements Reporter {
  private outcome = new Map<string, ReturnType<TestCase['outcome']>>();

  onTestEnd(test: TestCase, _result: TestResult) {
    this.outcome.set(test.id, test.outcome());
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
    console.log(`\ne2e: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  }

  printsToStdio() {
    return false;
  }
}
