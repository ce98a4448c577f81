/**
 * One process of receiving clients for the writes bench (bench/sections/writes.ts): opens
 * `clients` ChordClients on the context and, for each mark w the writer puts in the context,
 * tells the parent once every client of this process has a state holding mark ≥ w.
 *
 * Messages in:  { kind: 'start', url, contextId, clients }  then  { kind: 'stop' }
 * Messages out: { kind: 'ready' } once every client holds a state; { kind: 'applied', mark } per mark.
 */
import { ChordClient } from 'chord-sync/client';

interface Start {
  readonly kind: 'start';
  readonly url: string;
  readonly contextId: string;
  readonly clients: number;
}

const CONNECT_BATCH = 50;
const clients: ChordClient[] = [];
/** How many of this process's clients hold each mark. */
const holding = new Map<number, number>();

function send(message: unknown): void {
  process.send?.(message);
}

async function start(message: Start): Promise<void> {
  for (let i = 0; i < message.clients; i++) {
    const client = new ChordClient({ url: message.url, contextId: message.contextId });
    let seen = 0;
    client.subscribe((state) => {
      const mark = state?.context.mark;
      if (typeof mark !== 'number' || mark <= seen) return;
      // One state may span several marks (a slow reader gets one merged update).
      for (let m = seen + 1; m <= mark; m++) {
        const count = (holding.get(m) ?? 0) + 1;
        holding.set(m, count);
        if (count === message.clients) {
          holding.delete(m);
          send({ kind: 'applied', mark: m });
        }
      }
      seen = mark;
    });
    clients.push(client);
    // In batches: hundreds of connects at once overflow the listen backlog.
    if (clients.length % CONNECT_BATCH === 0 || i === message.clients - 1) {
      while (!clients.every((c) => c.confirmed !== null)) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
  send({ kind: 'ready' });
}

process.on('message', (message: { kind: string }) => {
  if (message.kind === 'start') void start(message as Start);
  if (message.kind === 'stop') {
    for (const client of clients) client.close();
    process.disconnect();
  }
});
