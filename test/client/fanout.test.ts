/**
 * Many clients, one context, real HTTP: 200 ChordClients on node:http (127.0.0.1) while 100 random
 * writes (set, update with unset, delete, re-create) land, with the server restarted in the middle
 * (the http server closed, a new one on the same port with a new Chord on the same storage).
 * Every state a client ever held must be one the server had, and every client ends equal to it.
 */
import { isDeepStrictEqual } from 'node:util';
import { afterEach, describe, expect, test } from 'vitest';
import type { ChordBackend } from '../../src/backend.js';
import { ChordClient } from '../../src/client/index.js';
import { unset } from '../../src/delta/index.js';
import { Chord, type ContextChanges } from '../../src/engine/chord.js';
import { createSyncHandler } from '../../src/http/index.js';
import type { JsonObject } from '../../src/types.js';
import { seededRandom as random } from '../support/random.js';
import { DATABASE_TEST_TIMEOUT_MS, liveTargets, startServer, type TestServer, waitFor } from '../http/support.js';
import { forTarget } from '../support/named.js';

const CLIENTS = 200;
const WRITES = 100;
const RESTART_AT = 50;
const CONTEXT_ID = 'board:fan-out';

function randomContext(next: () => number): JsonObject {
  const notes: JsonObject = {};
  for (let i = 0; i < 1 + Math.floor(next() * 6); i++) notes[`n${Math.floor(next() * 10)}`] = { text: `note ${Math.floor(next() * 1000)}`, x: Math.floor(next() * 500) };
  return { title: `board ${Math.floor(next() * 100)}`, notes };
}

function randomChanges(next: () => number): ContextChanges {
  const key = `n${Math.floor(next() * 10)}`;
  const roll = next();
  if (roll < 0.3) return { notes: { [key]: unset } };
  if (roll < 0.5) return { title: `renamed ${Math.floor(next() * 100)}`, counter: Math.floor(next() * 1e6) };
  if (roll < 0.6) return { counter: unset };
  return { notes: { [key]: { text: `edit ${Math.floor(next() * 1000)}`, x: Math.floor(next() * 500) } } };
}

const key = (epoch: string | undefined, version: number): string => `${epoch ?? ''}:${version}`;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

for (const target of liveTargets()) {
  describe(`fan-out on ${target.label}`, () => {
    const { test } = forTarget(target.label);
    test(`${CLIENTS} clients, ${WRITES} random writes and a server restart: every state held was the server's, all end equal`, async () => {
      const seed = Number(process.env.CHORD_FANOUT_SEED ?? Math.floor(Math.random() * 2 ** 31));
      const next = random(seed);
      const backend: ChordBackend = await target.harness.makeBackend({ clock: Date.now });
      cleanups.push(() => (target.harness.dispose ?? ((b: ChordBackend) => (b as { close?: () => Promise<void> }).close?.()))(backend));

      const startOn = async (port: number): Promise<TestServer> => {
        const chord = new Chord({ backend, watchPollMs: 50 });
        const server = await startServer(createSyncHandler(chord, { onError: () => {} }), port);
        cleanups.push(() => server.close());
        return server;
      };
      const writer = new Chord({ backend });
      const serverStates = new Map<string, JsonObject>();
      const record = (result: { context: { epoch?: string; version: number; context: JsonObject } }): void => {
        serverStates.set(key(result.context.epoch, result.context.version), result.context.context);
      };
      record(await writer.setContext(CONTEXT_ID, randomContext(next)));

      let server = await startOn(0);
      const held: Array<Array<{ epoch: string | undefined; version: number; context: JsonObject }>> = [];
      const clients: ChordClient[] = [];
      for (let i = 0; i < CLIENTS; i++) {
        const states: (typeof held)[number] = [];
        held.push(states);
        const client = new ChordClient({ url: `${server.url}/contexts`, contextId: CONTEXT_ID, initialBackoffMs: 50, maxBackoffMs: 1_000 });
        client.subscribe((state) => {
          if (state !== null) states.push(state);
        });
        clients.push(client);
        cleanups.push(() => client.close());
      }
      await waitFor(() => clients.every((c) => c.state !== null), 90_000, `all ${CLIENTS} clients to get the first state (seed ${seed})`);

      let exists = true;
      for (let w = 1; w <= WRITES; w++) {
        if (w === RESTART_AT) {
          const port = server.port;
          await server.close();
          // Writes land while no server is up; the clients must catch up after the restart.
          record(await writer.setContext(CONTEXT_ID, randomContext(next)));
          exists = true;
          server = await startOn(port);
        }
        const roll = next();
        if (!exists) {
          record(await writer.setContext(CONTEXT_ID, randomContext(next))); // re-create: a new epoch
          exists = true;
        } else if (roll < 0.08 && w < WRITES) {
          await writer.deleteContext(CONTEXT_ID);
          exists = false;
        } else if (roll < 0.3) {
          record(await writer.setContext(CONTEXT_ID, randomContext(next)));
        } else {
          const result = await writer.updateContext(CONTEXT_ID, randomChanges(next));
          if (result.delta !== null) record(result);
        }
        // Sometimes let the clients see each version, sometimes let writes pile up (merged deltas).
        if (next() < 0.5) await new Promise((resolve) => setTimeout(resolve, Math.floor(next() * 15)));
      }

      const final = await writer.getContext(CONTEXT_ID);
      expect(final).not.toBeNull();
      const converged = (c: ChordClient): boolean =>
        c.state !== null && c.state.version === final!.version && c.state.epoch === final!.epoch && isDeepStrictEqual(c.state.context, final!.context);
      await waitFor(() => clients.every(converged), 60_000, `every client to converge on version ${final!.version} (seed ${seed}; ${clients.filter(converged).length} did)`);

      let statesSeen = 0;
      const strangers: string[] = [];
      for (const states of held) {
        for (const state of states) {
          statesSeen++;
          const server = serverStates.get(key(state.epoch, state.version));
          if (server === undefined || !isDeepStrictEqual(server, state.context)) strangers.push(`${key(state.epoch, state.version)} ${JSON.stringify(state.context)}`);
        }
      }
      expect(strangers.slice(0, 5), `states no server had (seed ${seed})`).toEqual([]);
      // More than one state per client: they followed the writes, not only the end.
      expect(statesSeen).toBeGreaterThan(CLIENTS * 2);
    }, DATABASE_TEST_TIMEOUT_MS);
  });
}
