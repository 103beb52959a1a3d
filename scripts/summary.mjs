#!/usr/bin/env node
// Prints the closing line CI reads ("N passed, N failed, N skipped") from Vitest's JSON
// report, because Vitest's own summary is not in that form. A missing or unreadable report
// means the run died before reporting: that is a failure, not "0 tests".
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'reports/vitest.json';
try {
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  if (r.numTotalTests === 0) process.exitCode = 1;
} catch (err) {
  console.error(`no usable Vitest JSON report at ${file}: ${err.message}`);
  console.log('0 passed, 1 failed, 0 skipped');
  process.exitCode = 1;
}
