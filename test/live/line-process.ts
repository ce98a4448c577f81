/**
 * A fixture process of the live tests that talks in lines: it prints "ready", answers each
 * command written to its stdin with one line, and ends on "exit". Every wait is bounded.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface LineProcess {
  /** Writes `command` and resolves with the line that answers it (rejects past the bound, or if the process exits). */
  ask(command: string, what: string): Promise<string>;
  /** Says "exit" and waits for the process to end (killed after 5 s). */
  stop(): Promise<void>;
}

/** Starts `node script argument` and waits for its "ready". */
export async function startLineProcess(script: string, argument: string, boundMs: number, label: string): Promise<LineProcess> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [script, argument], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout });
  const waiting: Array<(line: string) => void> = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const nextLine = (what: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${label}: no "${what}" within ${boundMs} ms; stderr: ${stderr}`)), boundMs);
      waiting.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${label} exited before "${what}"; stderr: ${stderr}`));
      });
    });
  await nextLine('ready');
  return {
    ask(command, what) {
      const answer = nextLine(what);
      child.stdin.write(`${command}\n`);
      return answer;
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.stdin.write('exit\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
