/**
 * A Vitest reporter that ends the run with every skipped test and its reason. The default
 * reporter does not print skips in CI, and a skip whose reason nobody reads is a silent one.
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class SkippedReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const lines: string[] = [];
    for (const mod of testModules) {
      for (const test of mod.children.allTests()) {
        const result = test.result();
        if (result.state !== 'skipped') continue;
        const meta = test.meta() as { skipReason?: string };
        const reason = result.note ?? meta.skipReason ?? '(skipped at registration: the title says why)';
        lines.push(`  - [${test.project.name}] ${test.fullName}: ${reason}`);
      }
    }
    if (lines.length > 0) process.stdout.write(`\nSkipped tests and why (${lines.length}):\n${lines.join('\n')}\n`);
  }
}
