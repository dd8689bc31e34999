/**
 * A worker process for the crash-resume tests: runs (or resumes) a 50-agent pipeline council whose
 * model is served by a FakeProviderServer in the test process, journaling to a SQLite file. Run as
 * `node --conditions=forge-source test/journal-child.ts <run|resume> <fake url> <journal path>`;
 * prints one JSON line with the results when every run it owns has ended.
 */
import { Agent, Council, Harness } from 'forge-harness';

const [mode, url, journal] = process.argv.slice(2);
if (!mode || !url || !journal) throw new Error('usage: journal-child.ts <run|resume> <fake url> <journal>');

export const steps = 50;
const harness = new Harness({
  models: [{ id: 'worker', type: 'openai-compatible', model: 'fake-worker', endpoint: `${url}/compat/v1` }],
  councils: [
    new Council({
      name: 'Long',
      memory: 'memory://',
      agents: Array.from({ length: steps }, (_, i) => new Agent({ name: `A${i + 1}`, model: 'worker' })),
    }),
  ],
  journal,
});
const runs = mode === 'run' ? [harness.run('Long', 'Count the steps.')] : harness.resumeAll();
const results = await Promise.all(runs.map((r) => r.result));
process.stdout.write(
  `${JSON.stringify(results.map((r) => ({ runId: r.runId, status: r.status, output: r.output, agents: r.agents, usage: r.usage, error: r.error?.message })))}\n`,
);
await harness.stop();
