import { describe, expect, test } from 'vitest';
import { main } from '../../src/cli/main.js';
import { serverUrl } from '../support/database.js';
import { databaseChoice } from '../support/targets.js';
import { recordingIo } from './io.js';

const STEPS = [
  /1\. Migrate/,
  /applied \d{14}_init/,
  /v1 {2}\{"title":"Lobby","members":\["ada"\]\}/,
  /v3 {2}\{"title":"Main hall","members":\["ada","grace"\],"topic":"sync"\}/,
  /3\. List contexts with delta counts\n {3}"demo:room-[^"]+": 3 deltas/,
  /4\. Deltas a client at version 1 would fetch\n {3}v2 .*\n {3}v3 /,
  /removed 2 deltas; "demo:room-[^"]+" now has 1 delta\(s\), context still at v3/,
  /Done\./,
];

describe('chord-sync demo', () => {
  test('on in-process PGlite (no DATABASE_URL): exits 0 after migrate, three writes, counts and prune', async () => {
    const io = recordingIo({});
    expect(await main(['demo'], io)).toBe(0);
    expect(io.stdout).toContain('in-process PGlite');
    for (const step of STEPS) expect(io.stdout).toMatch(step);
    expect(io.stderr).toBe('');
  });

  const url = serverUrl(databaseChoice());
  if (url !== undefined) {
    test('on DATABASE_URL: the same steps on the server, and its demo context removed afterwards', async () => {
      const io = recordingIo({ DATABASE_URL: url });
      expect(await main(['demo'], io)).toBe(0);
      expect(io.stdout).toContain('PostgreSQL at');
      for (const step of STEPS.slice(2)) expect(io.stdout).toMatch(step);
      expect(io.stdout).toMatch(/removed 1 context and 1 delta\(s\)/);
      // The second run finds the tables already there and still works.
      const again = recordingIo({ DATABASE_URL: url });
      expect(await main(['demo'], again)).toBe(0);
      expect(again.stdout).toMatch(/nothing to apply: 1 migration\(s\) already applied/);
    });
  }
});

describe('chord-sync help and usage errors', () => {
  test('help lists migrate, demo and help; an unknown command exits 2', async () => {
    const io = recordingIo();
    expect(await main(['help'], io)).toBe(0);
    for (const name of ['migrate', 'demo', 'help']) expect(io.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    const bad = recordingIo();
    expect(await main(['frobnicate'], bad)).toBe(2);
    expect(bad.stderr).toMatch(/unknown command "frobnicate"/);
  });

  test('migrate without a database says how to give one and exits 2', async () => {
    const io = recordingIo({});
    expect(await main(['migrate'], io)).toBe(2);
    expect(io.stderr).toMatch(/set DATABASE_URL or pass --url/);
  });
});
