/**
 * Hot swap (seed §3.3): a council's model is swapped by reloading the config while runs are in
 * flight — zero failed runs, runs finish on the model they started with, memory still answers —
 * and a bad config is refused with its location while the old one keeps serving. Reload by API,
 * by file watch and by signal.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Harness, HarnessError, type ReloadResult, type RunResult } from 'forge-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'forge-hotswap-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (model: 'alpha' | 'beta', memory: string) => `
models:
  - id: alpha
    type: simulated
    latency_ms: 15
    rules: [{ when: ".", reply: "alpha says: {{input}}" }]
  - id: beta
    type: simulated
    latency_ms: 15
    rules: [{ when: ".", reply: "beta says: {{input}}" }]
councils:
  - name: Support
    memory: ${memory}
    knowledge: ["Refunds take five business days."]
    agents:
      - name: Answerer
        model: ${model}
`;

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('hot swap', () => {
  it('swaps a council model under load: zero failed runs, in-flight runs keep their model, memory answers', async () => {
    const memory = `sqlite://${join(dir, 'swap.db')}`;
    const file = join(dir, 'swap.yaml');
    writeFileSync(file, config('alpha', memory));
    const harness = await Harness.fromFile(file, { journal: false });
    const before = await harness.run('Support', 'remember order 77');
    expect(before.output).toBe('alpha says: remember order 77');

    // Load: 6 workers run back to back while the config is swapped under them.
    const results: Array<{ started: number; result: RunResult }> = [];
    let swapping = true;
    const workers = Array.from({ length: 6 }, async (_, w) => {
      for (let i = 0; swapping || i < 3; i++) {
        const started = Date.now();
        results.push({ started, result: await harness.run('Support', `question ${w}-${i}`) });
      }
    });
    await until(() => results.length >= 30);
    writeFileSync(file, config('beta', memory));
    const reloaded = await harness.reload(file);
    const swappedAt = Date.now();
    expect(reloaded.councils).toEqual(['Support']);
    await until(() => results.filter((r) => r.started >= swappedAt).length >= 30);
    swapping = false;
    await Promise.all(workers);

    expect(results.filter((r) => r.result.status !== 'succeeded')).toEqual([]);
    for (const { started, result } of results) {
      // A run finishes on the model it started with: never a mix.
      const model = result.agents[0]?.model;
      expect(result.output.startsWith(`${model} says:`)).toBe(true);
      if (started >= swappedAt) expect(model).toBe('beta');
    }
    expect(results.some((r) => r.result.agents[0]?.model === 'alpha')).toBe(true);

    // The memory is the same store: the thread written before the swap and the knowledge answer.
    const council = harness.council('Support');
    const store = harness.memoryOf(council);
    const thread = await store.read(
      { tenant: 'default', council: 'Support', agent: 'Answerer' },
      { limit: 10_000 },
    );
    expect(thread.some((m) => m.content === 'remember order 77')).toBe(true);
    const hits = await store.recall({ tenant: 'default', council: 'Support' }, 'refunds', { k: 1 });
    expect(hits[0]?.text).toBe('Refunds take five business days.');
    await harness.stop();
  }, 60_000);

  it('refuses a bad config with its location; the old one keeps serving', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, config('alpha', 'memory://'));
    const harness = await Harness.fromFile(file, { journal: false });
    writeFileSync(file, config('alpha', 'memory://').replace('model: alpha', 'model: gamma'));
    const error = await harness.reload(file).catch((e: unknown) => e);
    expect(HarnessError.isInstance(error) && error.code).toBe('unknown_model');
    expect(HarnessError.isInstance(error) && error.location).toMatchObject({
      file,
      line: 17,
      path: 'councils[0].agents[0].model',
    });
    // A model that needs a key nobody has is refused before it is installed, too.
    const keyless = `${config('alpha', 'memory://')}`
      .replace(
        '  - id: beta\n    type: simulated',
        '  - id: beta\n    type: openai\n    api_key: env:FORGE_TEST_NO_SUCH_KEY',
      )
      .replace('model: alpha', 'model: beta')
      .replace(
        /\n {4}latency_ms: 15\n {4}rules: \[\{ when: "\.", reply: "beta says: \{\{input\}\}" \}\]/,
        '',
      );
    const missing = await harness.reload({ yaml: keyless, file: 'keyless.yaml' }).catch((e: unknown) => e);
    expect(HarnessError.isInstance(missing) && missing.code).toBe('missing_credential');
    const still = await harness.run('Support', 'still there?');
    expect(still.output).toBe('alpha says: still there?');
    await harness.stop();
  });

  it('reloads on a file change and on SIGHUP', async () => {
    const file = join(dir, 'watched.yaml');
    writeFileSync(file, config('alpha', 'memory://'));
    const harness = await Harness.fromFile(file, { journal: false });
    const outcomes: Array<ReloadResult | HarnessError> = [];
    const stop = harness.watch(file, { debounceMs: 50, onReload: (o) => outcomes.push(o) });
    writeFileSync(file, config('beta', 'memory://'));
    await until(() => outcomes.length >= 1);
    expect(outcomes[0]).toEqual({ models: ['alpha', 'beta'], councils: ['Support'] });
    expect((await harness.run('Support', 'hi')).output).toBe('beta says: hi');
    writeFileSync(file, 'councils: [');
    await until(() => outcomes.length >= 2);
    expect(HarnessError.isInstance(outcomes[1]) && outcomes[1].code).toBe('config_yaml_syntax');
    expect((await harness.run('Support', 'hi')).output).toBe('beta says: hi');
    stop();

    writeFileSync(file, config('alpha', 'memory://'));
    const signalled: Array<ReloadResult | HarnessError> = [];
    const off = harness.reloadOnSignal(file, { onReload: (o) => signalled.push(o) });
    process.kill(process.pid, 'SIGHUP');
    await until(() => signalled.length >= 1);
    off();
    expect((await harness.run('Support', 'hi')).output).toBe('alpha says: hi');
    await harness.stop();
  });
});
