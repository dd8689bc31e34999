// Retries before fallback (issue 5 §1, first part): only failures that can heal are retried,
// Retry-After is honoured, 400/401/404 are never retried, and an abort during the wait is terminal.
import { Harness, HarnessError, type RunEvent } from 'forge-harness';
import { FakeProviderServer } from 'forge-harness/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

let fake: FakeProviderServer;
beforeAll(async () => {
  fake = await FakeProviderServer.start();
});
afterAll(() => fake.close());
beforeEach(() => fake.reset());

const harness = (retry?: { maxRetries?: number; baseDelayMs?: number; maxDelayMs?: number }) =>
  new Harness({
    models: [
      { id: 'm', type: 'openai', api: 'chat', apiKey: 'sk-retry-1234', endpoint: fake.baseUrl('openai') },
      { id: 'backup', type: 'anthropic', apiKey: 'sk-ant-retry-1234', endpoint: fake.baseUrl('anthropic') },
    ],
    memory: 'memory://',
    ...(retry === undefined ? {} : { retry }),
  });

describe('retries before fallback', () => {
  it('waits what Retry-After asks, then succeeds on the same model', async () => {
    fake.injectFault({ status: 429, retryAfterSeconds: 1, rateLimitHeaders: true });
    const started = Date.now();
    const result = await harness().callLlm({ model: 'm', prompt: 'hi', fallback: ['backup'] });
    expect(result.model).toBe('m');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(fake.counters().byFamily).toMatchObject({ openai: 2, anthropic: 0 });
  });

  it('retries 5xx with backoff up to maxRetries, then falls back', async () => {
    fake.injectFault({ status: 503, times: 10, match: { provider: 'openai' } });
    const result = await harness({ maxRetries: 2, baseDelayMs: 10 }).callLlm({
      model: 'm',
      prompt: 'hi',
      fallback: ['backup'],
    });
    expect(result.model).toBe('backup');
    expect(fake.counters().byFamily).toMatchObject({ openai: 3, anthropic: 1 });
  });

  it('never retries a request the provider refused as bad, unauthorised or unknown', async () => {
    for (const status of [400, 401, 403, 404] as const) {
      fake.reset();
      fake.injectFault({ status, match: { provider: 'openai' } });
      const result = await harness({ baseDelayMs: 10 }).callLlm({
        model: 'm',
        prompt: 'hi',
        fallback: ['backup'],
      });
      expect(result.model, String(status)).toBe('backup');
      expect(fake.counters().byFamily.openai, String(status)).toBe(1);
    }
  });

  it('does not wait longer than maxDelayMs: a long Retry-After falls back at once', async () => {
    fake.injectFault({ status: 429, retryAfterSeconds: 60 });
    const started = Date.now();
    const result = await harness({ maxDelayMs: 2000 }).callLlm({
      model: 'm',
      prompt: 'hi',
      fallback: ['backup'],
    });
    expect(result.model).toBe('backup');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('reports each retry as an event in a council run', async () => {
    fake.injectFault({ status: 500, times: 2, match: { provider: 'openai' } });
    const h = new Harness({
      models: [
        { id: 'm', type: 'openai', api: 'chat', apiKey: 'sk-retry-1234', endpoint: fake.baseUrl('openai') },
      ],
      memory: 'memory://',
      retry: { baseDelayMs: 10 },
      councils: [{ name: 'C', agents: [{ name: 'A', model: 'm' }] }],
    });
    const events: RunEvent[] = [];
    const result = await h.run('C', 'hello', { onEvent: (e) => events.push(e) });
    expect(result.status).toBe('succeeded');
    const retries = events.filter((e) => e.type === 'model-retry');
    expect(retries.map((e) => (e.type === 'model-retry' ? e.attempt : 0))).toEqual([2, 3]);
    expect(events.filter((e) => e.type === 'model-call-start')).toHaveLength(3);
    await h.stop();
  });

  it('an abort while waiting to retry is terminal', async () => {
    fake.injectFault({ status: 429, retryAfterSeconds: 5 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop')), 100);
    const started = Date.now();
    const error = (await harness()
      .callLlm({ model: 'm', prompt: 'hi', fallback: ['backup'], signal: controller.signal })
      .catch((e: unknown) => e)) as HarnessError;
    expect(HarnessError.isInstance(error) && error.code).toBe('aborted');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(fake.counters().byFamily.anthropic).toBe(0);
  });
});
