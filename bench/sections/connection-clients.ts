/**
 * One client process of the `--connections` section (run by connections.ts, not by hand). argv[2]
 * is JSON: { url, mode, first, count, contextsPerClient, contexts }. Makes `count` clients
 * (numbered from `first`); client i follows contexts (i * contextsPerClient + k) mod contexts,
 * k < contextsPerClient, through one ChordConnection (`mode: 'connection'`) or one ChordClient per
 * context (`mode: 'clients'`). Prints "ready" once every context of every client holds a state.
 * Then reads one line from stdin: JSON { contextId: finalVersion }, waits until every context
 * reached its final version, and prints JSON { applied } (state updates applied after "ready").
 */
import { createInterface } from 'node:readline';
import { ChordClient, ChordConnection } from 'chord-sync/client';

interface Args {
  readonly url: string;
  readonly mode: 'connection' | 'clients';
  readonly first: number;
  readonly count: number;
  readonly contextsPerClient: number;
  readonly contexts: number;
}

interface Held {
  readonly contextId: string;
  readonly version: () => number | undefined;
}

/** Streams opened at once per process: 50 clients of one stream, or 5 of ten. */
const STREAMS_PER_BATCH = 50;
const POLL_MS = 50;

const args = JSON.parse(process.argv[2]!) as Args;
const held: Held[] = [];
const closers: Array<() => void> = [];
let applied = 0;
let counting = false;
const onError = (): void => {
  // Reconnects are the client's business; the bench reports what arrives.
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(POLL_MS);
}

const CONNECT_BATCH = args.mode === 'connection' ? STREAMS_PER_BATCH : Math.max(1, Math.floor(STREAMS_PER_BATCH / args.contextsPerClient));
for (let start = 0; start < args.count; start += CONNECT_BATCH) {
  const batch: Held[] = [];
  for (let i = args.first + start; i < args.first + Math.min(args.count, start + CONNECT_BATCH); i++) {
    const ids = Array.from({ length: args.contextsPerClient }, (_, k) => `ctx:${(i * args.contextsPerClient + k) % args.contexts}`);
    if (args.mode === 'connection') {
      const connection = new ChordConnection({ url: args.url, onError });
      closers.push(() => connection.close());
      for (const id of ids) {
        const handle = connection.context(id);
        handle.subscribe(() => {
          if (counting) applied++;
        });
        batch.push({ contextId: id, version: () => handle.state?.version });
      }
    } else {
      for (const id of ids) {
        const client = new ChordClient({ url: args.url, contextId: id, onError });
        closers.push(() => client.close());
        client.subscribe(() => {
          if (counting) applied++;
        });
        batch.push({ contextId: id, version: () => client.state?.version });
      }
    }
  }
  // A batch at a time, the same number of streams on both sides: thousands of connects at once overflow the server's accept backlog.
  await until(() => batch.every((h) => h.version() !== undefined));
  held.push(...batch);
  if ((start / CONNECT_BATCH) % 20 === 19) process.stderr.write(`  · client process ${args.first / args.count}: ${start + CONNECT_BATCH} of ${args.count} clients connected\n`);
}
counting = true;
console.log('ready');

for await (const line of createInterface({ input: process.stdin })) {
  const finals = JSON.parse(line) as Record<string, number>;
  await until(() => held.every((h) => (h.version() ?? -1) >= finals[h.contextId]!));
  console.log(JSON.stringify({ applied }));
  break;
}
for (const close of closers) close();
process.exit(0);
