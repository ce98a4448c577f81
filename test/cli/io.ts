import type { CliIo } from '../../src/cli/command.js';

/** A CliIo that records what a command printed. */
export function recordingIo(env: Record<string, string | undefined> = {}): CliIo & { readonly stdout: string; readonly stderr: string } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    env,
    out: (text) => void out.push(text),
    err: (text) => void err.push(text),
    get stdout() {
      return out.join('\n');
    },
    get stderr() {
      return err.join('\n');
    },
  };
}
