import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Redactor } from '../models/credentials.ts';
import { ModelRegistry } from '../models/registry.ts';
import { FakeProviderServer } from '../testing/fake-provider-server.ts';
import { createModelProbe } from './model-probe.ts';

const key = 'sk-probe-secret-5678';
let fake: FakeProviderServer;
let registry: ModelRegistry;
let redactor: Redactor;

beforeAll(async () => {
  fake = await FakeProviderServer.start();
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.reset();
  redactor = new Redactor();
  registry = new ModelRegistry(
    [
      { id: 'gpt', type: 'openai', apiKey: key, endpoint: fake.baseUrl('openai') },
      { id: 'claude', type: 'anthropic', apiKey: 'sk-ant-probe-1234', endpoint: fake.baseUrl('anthropic') },
    ],
    { redactor },
  );
});

const never = new AbortController().signal;

describe('createModelProbe', () => {
  it('sends one small real request and reports the model up with its latency', async () => {
    const probe = createModelProbe(registry, 'gpt');
    expect(probe).toMatchObject({ name: 'model:gpt', kind: 'provider', critical: false });
    const result = await probe.check(never);
    expect(result.status).toBe('up');
    expect(result.detail).toMatch(/^answered in \d+ ms$/);
    expect(result.data).toMatchObject({ latencyMs: expect.any(Number) });
    expect(fake.requests).toHaveLength(1);
    // 16, not 1: OpenAI's Responses API refuses a smaller max_output_tokens.
    expect(fake.requests[0]?.body).toMatchObject({ max_output_tokens: 16 });
  });

  it('sends no more than one request per interval and answers the last result in between', async () => {
    let now = 1_000_000;
    const probe = createModelProbe(registry, 'claude', { intervalMs: 60_000, now: () => now });
    expect((await probe.check(never)).status).toBe('up');
    fake.injectFault({ status: 500 });
    now += 59_999;
    expect((await probe.check(never)).status).toBe('up'); // cached: no request
    expect(fake.counters().total).toBe(1);
    now += 1;
    const failed = await probe.check(never);
    expect(failed.status).toBe('down');
    expect(failed.detail).toContain('server (HTTP 500)');
    expect(fake.counters().total).toBe(2);
    // The failure is cached for the interval as well: a sick model is not hammered.
    now += 30_000;
    expect((await probe.check(never)).status).toBe('down');
    expect(fake.counters().total).toBe(2);
  });

  it('shares one request between concurrent checks', async () => {
    fake.injectFault({ latencyMs: 100 });
    const probe = createModelProbe(registry, 'gpt');
    const [a, b] = await Promise.all([probe.check(never), probe.check(never)]);
    expect(a).toBe(b);
    expect(fake.counters().total).toBe(1);
  });

  it('reports a refused key as down with the failure kind, and no secret in the detail', async () => {
    registry.resolve('gpt'); // registers the key with the redactor
    fake.injectFault({ status: 401, message: `Incorrect API key provided: ${key}` });
    const probe = createModelProbe(registry, 'gpt', { redact: (text) => redactor.redact(text) });
    const result = await probe.check(never);
    expect(result.status).toBe('down');
    expect(result.detail).toContain('auth (HTTP 401)');
    expect(result.data).toMatchObject({ kind: 'auth', statusCode: 401 });
    expect(JSON.stringify(result)).not.toContain(key);
  });

  it('reports a rate-limited model as degraded with the wait it asked for', async () => {
    fake.injectFault({ status: 429, retryAfterSeconds: 7 });
    const result = await createModelProbe(registry, 'gpt').check(never);
    expect(result.status).toBe('degraded');
    expect(result.data).toMatchObject({ kind: 'rate_limit', statusCode: 429, retryAfterMs: 7000 });
  });

  it('aborts a request that hangs after its timeout and reports a timeout', async () => {
    fake.injectFault({ hang: true });
    const probe = createModelProbe(registry, 'gpt', { timeoutMs: 200 });
    expect(probe.timeoutMs).toBeGreaterThan(200); // the monitor lets the probe's own timeout speak
    const started = Date.now();
    const result = await probe.check(never);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(result).toMatchObject({ status: 'down', data: { kind: 'timeout' } });
  });

  it('reports a model that cannot be built (unknown id, missing key) as down instead of throwing', async () => {
    const unknown = await createModelProbe(registry, 'nope').check(never);
    expect(unknown).toMatchObject({ status: 'down' });
    expect(unknown.detail).toContain('unknown_model');
    const keyless = new ModelRegistry([{ id: 'k', type: 'openai', apiKey: 'env:NO_SUCH_KEY_FOR_PROBE' }], {
      env: {},
    });
    const missing = await createModelProbe(keyless, 'k').check(never);
    expect(missing.status).toBe('down');
    expect(missing.detail).toContain('NO_SUCH_KEY_FOR_PROBE');
    expect(fake.counters().total).toBe(0);
  });
});
