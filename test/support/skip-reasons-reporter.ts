/**
 * A vitest reporter that runs beside the default one and prints, at the end of a run, every reason
 * a test was skipped for, with how many tests and which files: the default reporter lists a file's
 * skipped count but not its tests, so a reason written into a test's or describe's name was never
 * shown.
 *
 * A reason is `ctx.skip(note)`'s note, else the `(skipped: …)` text in the name of the test or of a
 * describe around it (skipNote in targets.ts writes it). A skip with neither is listed by name
 * as "no reason given", so it gets one, unless the run was filtered (`-t`, `.only`), where
 * skipping is what was asked for.
 */
import type { Reporter, TestCase, TestModule, Vitest } from 'vitest/node';

const MARK = '(skipped: ';

/** The text after `(skipped: ` up to its matching `)`, in `name`; undefined if there is none. */
export function reasonInName(name: string): string | undefined {
  const start = name.indexOf(MARK);
  if (start === -1) return undefined;
  let depth = 1;
  for (let i = start + MARK.length; i < name.length; i++) {
    if (name[i] === '(') depth++;
    else if (name[i] === ')' && --depth === 0) return name.slice(start + MARK.length, i);
  }
  return name.slice(start + MARK.length);
}

function reasonOf(test: TestCase): string | undefined {
  const result = test.result();
  if (result.state === 'skipped' && result.note !== undefined && result.note !== '') return result.note;
  // The test's own name first, then each describe around it, innermost first.
  for (let node: { name: string; parent?: unknown; type: string } = test; ; node = node.parent as typeof node) {
    const found = reasonInName(node.name);
    if (found !== undefined) return found;
    if (node.type === 'module' || node.parent === undefined) return undefined;
  }
}

export default class SkipReasonsReporter implements Reporter {
  #filtered = false;

  onInit(vitest: Vitest): void {
    this.#filtered = vitest.config.testNamePattern !== undefined;
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const byReason = new Map<string, Map<string, number>>();
    const unexplained: string[] = [];
    let total = 0;
    for (const module of testModules) {
      const onlyMode = [...module.children.allTests()].some((t) => t.options.mode === 'only');
      for (const test of module.children.allTests('skipped')) {
        if (test.options.mode === 'todo') continue;
        const reason = reasonOf(test);
        if (reason === undefined) {
          // `.only` elsewhere in the file skips the rest with no reason of their own.
          if (this.#filtered || onlyMode) continue;
          unexplained.push(`${module.relativeModuleId} > ${test.fullName}`);
          continue;
        }
        total++;
        const files = byReason.get(reason) ?? new Map<string, number>();
        files.set(module.relativeModuleId, (files.get(module.relativeModuleId) ?? 0) + 1);
        byReason.set(reason, files);
      }
    }
    if (total === 0 && unexplained.length === 0) return;
    const lines = ['', ` Skipped, and why (${total + unexplained.length} tests):`];
    const sorted = [...byReason].sort((a, b) => sum(b[1]) - sum(a[1]));
    for (const [reason, files] of sorted) {
      lines.push(`   ${String(sum(files)).padStart(4)}  ${reason}`);
      lines.push(`         ${[...files].map(([file, n]) => `${file} (${n})`).join(', ')}`);
    }
    if (unexplained.length > 0) {
      lines.push(`   ${String(unexplained.length).padStart(4)}  no reason given (write one in the name: skipNote in test/support/targets.ts):`);
      for (const name of unexplained.slice(0, 20)) lines.push(`         ${name}`);
      if (unexplained.length > 20) lines.push(`         … and ${unexplained.length - 20} more`);
    }
    process.stdout.write(`${lines.join('\n')}\n\n`);
  }
}

function sum(files: Map<string, number>): number {
  let n = 0;
  for (const count of files.values()) n += count;
  return n;
}
