/**
 * A worker process for the crash-resume tests, journaling to a SQLite file, with models served by
 * a FakeProviderServer in the test process. Run as
 * `node --conditions=forge-source test/journal-child.ts <mode> <fake url> <journal path> [effects file]`:
 *
 * - `run` / `resume`: runs (or resumes every interrupted run of) a 50-agent pipeline council.
 * - `effects-run` / `effects-resume`: one agent whose model asks for the `Charge` skill, a side
 *   effect that honours its idempotency key (one line per key in the effects file). In
 *   `effects-run` the skill prints `charged` after its effect and then hangs, to be killed there.
 *
 * Prints one JSON line with the results when every run it owns has ended.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, Council, Harness, Skill } from 'forge-harness';
import { z } from 'zod';

const [mode, url, journal, effects] = process.argv.slice(2);
if (!mode || !url || !journal)
  throw new Error('usage: journal-child.ts <mode> <fake url> <journal> [effects]');

const charge = new Skill({
  name: 'Charge',
  description: 'charges the card once',
  input: z.object({ amount: z.number() }),
  run: async ({ amount }, ctx) => {
    const file = effects ?? '';
    const done = existsSync(file) ? readFileSync(file, 'utf8').split('\n') : [];
    if (!done.includes(ctx.idempotencyKey)) appendFileSync(file, `${ctx.idempotencyKey}\n`);
    if (mode === 'effects-run') {
      process.stdout.write('charged\n');
      await sleep(60_000);
    }
    return { charged: amount };
  },
});

const harness = new Harness({
  models: [{ id: 'worker', type: 'openai-compatible', model: 'fake-worker', endpoint: `${url}/compat/v1` }],
  skills: [charge],
  councils: [
    new Council({
      name: 'Long',
      memory: 'memory://',
      agents: Array.from({ length: 50 }, (_, i) => new Agent({ name: `A${i + 1}`, model: 'worker' })),
    }),
    new Council({
      name: 'Pay',
      memory: 'memory://',
      agents: [new Agent({ name: 'Cashier', model: 'worker', skills: ['Charge'] })],
    }),
  ],
  journal,
});
const runs =
  mode === 'run'
    ? [harness.run('Long', 'Count the steps.')]
    : mode === 'effects-run'
      ? [harness.run('Pay', 'Charge 42.')]
      : harness.resumeAll();
const results = await Promise.all(runs.map((r) => r.result));
process.stdout.write(
  `${JSON.stringify(results.map((r) => ({ runId: r.runId, status: r.status, output: r.output, agents: r.agents, usage: r.usage, error: r.error?.message })))}\n`,
);
await harness.stop();
