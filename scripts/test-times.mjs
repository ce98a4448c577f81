#!/usr/bin/env node
// The test-time budget of a CI run: reads vitest's JSON report (written when CHORD_TEST_JSON names
// a file, see vitest.config.ts) and prints the run's span and the slowest files with their times,
// so a file that grows slow shows in every run's log. Usage: node scripts/test-times.mjs <report.json> [count]
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

const [file, countArg = '10'] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: node scripts/test-times.mjs <vitest-json-report> [count]');
  process.exit(2);
}
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (error) {
  console.error(`test times: no report at ${file} (${error instanceof Error ? error.message : String(error)})`);
  process.exit(1);
}

const files = (report.testResults ?? []).map((result) => ({
  name: relative(process.cwd(), result.name),
  // vitest's duration of the file: its hooks and tests (its import and collection not included).
  ms: Math.max(0, (result.endTime ?? 0) - (result.startTime ?? 0)),
  tests: (result.assertionResults ?? []).length,
  failed: (result.assertionResults ?? []).filter((t) => t.status === 'failed').length,
}));
const first = report.startTime ?? Math.min(...report.testResults.map((r) => r.startTime ?? Infinity));
const last = Math.max(...report.testResults.map((r) => r.endTime ?? 0));
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

files.sort((a, b) => b.ms - a.ms);
const count = Math.max(1, Number(countArg) || 10);
const summed = files.reduce((sum, f) => sum + f.ms, 0);
console.log('');
console.log(`Test time: ${files.length} files, ${report.numTotalTests} tests (${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests + (report.numTodoTests ?? 0)} skipped)`);
console.log(`  ${seconds(last - first)} from vitest's start to the last file's end; the files' hooks and tests add up to ${seconds(summed)} (on several workers)`);
console.log(`  slowest ${Math.min(count, files.length)} files:`);
for (const f of files.slice(0, count)) {
  console.log(`  ${seconds(f.ms).padStart(9)}  ${f.name} (${f.tests} tests${f.failed > 0 ? `, ${f.failed} failed` : ''})`);
}
