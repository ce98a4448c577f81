// A process that uses PrismaBackend or migrate() and forgets close() still exits when its work is
// done: the pools they make let idle connections go (allowExitOnIdle), instead of holding the
// event loop until pg's idle timeout (10 s, plus a second) ends them.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { REPO_ROOT, ensureBuilt } from '../support/build.js';
import { wireUrl } from '../support/targets.js';

const url = wireUrl();
// Building dist/ can take a minute on a busy machine: in the hook, whose bound is longer.
beforeAll(() => ensureBuilt(), 300_000);

test('after migrate() and PrismaBackend calls without close(), nothing keeps the process alive', async () => {
  const entry = join(REPO_ROOT, 'dist', 'backends', 'prisma', 'index.js');
  const script = `
    import { PrismaBackend, migrate } from ${JSON.stringify(entry)};
    const schema = 'forgotten_' + process.pid;
    await migrate({ connectionString: process.env.URL }, { schema });
    const backend = new PrismaBackend({ connectionString: process.env.URL, schema, poolSize: 1 });
    await backend.setContext('a', { n: 1 }, 1);
    const read = await backend.getContext('a');
    await backend.deleteContext('a');
    // No close(). What still holds the event loop once this turn is over (the stdio pipes to the
    // parent aside: they close when the process ends):
    setImmediate(() => process.stdout.write(JSON.stringify({
      version: read.version,
      holding: process.getActiveResourcesInfo().filter((r) => r !== 'PipeWrap'),
    })));`;
  // The bound is only there so a regression fails instead of hanging; the assertion is on what holds the loop.
  // Not execFileSync: without a server, the database is PGlite served from this very process,
  // which must go on answering while the child runs.
  const { stdout: out } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, URL: await url() },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(JSON.parse(out)).toEqual({ version: 1, holding: [] });
});
