// Gateway resilience (issue 5 items 1–3) through the public API against FakeProviderServer: circuit
// breakers skip a sick model at once and half-open probes bring it back; slow calls count, refused
// requests and aborts do not; the four timeouts; hedging; streams interrupted after output; an
// ensemble's own cost; a 429 blocks only its model and is never waited for past maxDelayMs.
import { generateText } from 'ai';
import {
  Agent,
  Council,
  createGatewayModel,
  Harness,
  HarnessError,
  type ModelEntry,
  ModelRegistry,
  type RunEvent,
  registerProviderType,
} from 'forge-harness';
import { FakeProviderServer, ScriptedModel } from 'forge-harness/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

let fake: FakeProviderServer;
beforeAll(async () => {
  fake = await FakeProviderServer.start({ maxRecordedRequests: 10_000 });
});
afterAll(() => fake.close());
beforeEach(() => fake.reset());

const primary = (extra: Partial<ModelEntry> = {}): ModelEntry => ({
  id: 'primary',
  type: 'openai-compatible',
  model: 'p',
  endpoint: fake.baseUrl('openai-compatible'),
  ...extra,
});
const backup: () => ModelEntry = () => ({
  id: 'backup',
  type: 'anthropic',
  model: 'b',
  apiKey: 'sk-ant-resilience-1234',
  endpoint: fake.baseUrl('anthropic'),
});

/** A harness with one council `C` whose agent `A` runs on primary, falling back to backup. */
function harness(primaryExtra: Partial<ModelEntry> = {}, retry = { maxRetries: 0 }) {
  return new Harness({
    models: [primary(primaryExtra), backup()],
    memory: 'memory://',
    journal: false,
    retry,
    councils: [
      new Council({
        name: 'C',
        memory: 'memory://',
        agents: [new Agent({ name: 'A', model: 'primary', fallback: ['backup'] })],
      }),
    ],
  });
}

async function run(h: Harness, input = 'hello') {
  const events: RunEvent[] = [];
  const result = await h.run('C', input, { onEvent: (e) => events.push(e) });
  return { result, events, types: events.map((e) => e.type) };
}

/** Resolves once `condition()` holds; fails after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const requestsTo = (model: string) => fake.counters().byModel[model] ?? 0;
const breakerOf = (h: Harness, scope: string, key: string) =>
  h.registry.breakers.states().find((b) => b.scope === scope && b.key === key);

describe('circuit breakers', () => {
  it('skip a sick model at once once open, and a half-open probe brings it back', async () => {
    // A cooldown long enough that a loaded machine does not reach it between two runs.
    const h = harness({ breaker: { consecutiveFailures: 3, errorRate: 0, halfOpenAfterMs: 1000 } });
    fake.injectFault({ status: 500, times: 1000, match: { model: 'p' } });
    for (let i = 0; i < 3; i++) {
      const { result, types } = await run(h);
      expect(result.status).toBe('succeeded');
      expect(result.agents[0]?.model).toBe('backup');
      expect(types.includes('breaker-open')).toBe(i === 2);
    }
    expect(requestsTo('p')).toBe(3);
    expect(breakerOf(h, 'model', 'primary')).toMatchObject({ state: 'open', consecutiveFailures: 3 });

    // Open: the next run does not try the primary at all.
    const skipped = await run(h);
    expect(skipped.result.agents[0]?.model).toBe('backup');
    expect(requestsTo('p')).toBe(3);
    expect(skipped.events.find((e) => e.type === 'model-fallback')).toMatchObject({
      from: 'primary',
      to: 'backup',
      reason: 'breaker open',
    });
    expect(skipped.events.filter((e) => e.type === 'model-call-start').map((e) => e.model)).toEqual([
      'backup',
    ]);

    // Healthy again; after the cooldown one call probes and closes the breaker.
    fake.reset();
    await until(() => breakerOf(h, 'model', 'primary')?.probeInMs === 0, 'the cooldown');
    const probed = await run(h);
    expect(probed.result.agents[0]?.model).toBe('primary');
    const breakerEvents = probed.events.filter((e) => e.type.startsWith('breaker-'));
    expect(breakerEvents).toMatchObject([
      {
        type: 'breaker-half-open',
        scope: 'model',
        model: 'primary',
        provider: expect.stringContaining('openai-compatible'),
      },
      { type: 'breaker-close', scope: 'model', model: 'primary', reason: 'probe succeeded' },
    ]);
    expect(breakerOf(h, 'model', 'primary')?.state).toBe('closed');
    // The provider breaker saw the same failures but needs more (10 in a row) to open.
    expect(breakerOf(h, 'provider', `openai-compatible ${fake.baseUrl('openai-compatible')}`)?.state).toBe(
      'closed',
    );
    await h.stop();
  });

  it('reopens when the probe fails, and fails fast when every model of the chain is open', async () => {
    const h = new Harness({
      models: [primary({ breaker: { consecutiveFailures: 1, errorRate: 0, halfOpenAfterMs: 200 } })],
      memory: 'memory://',
      journal: false,
      retry: { maxRetries: 0 },
    });
    fake.injectFault({ status: 503, times: 1000, match: { model: 'p' } });
    await expect(h.callLlm({ model: 'primary', prompt: 'hi' })).rejects.toMatchObject({
      details: { kind: 'overloaded' },
    });
    const started = Date.now();
    const skipped = (await h
      .callLlm({ model: 'primary', prompt: 'hi' })
      .catch((e: unknown) => e)) as HarnessError;
    expect(Date.now() - started).toBeLessThan(100);
    expect(skipped).toMatchObject({
      code: 'provider_error',
      isRetryable: true,
      details: { kind: 'breaker_open', scope: 'model' },
    });
    expect(skipped.details.retryAfterMs).toBeGreaterThan(0);
    expect(requestsTo('p')).toBe(1);
    await until(() => breakerOf(h, 'model', 'primary')?.probeInMs === 0, 'the cooldown');
    await expect(h.callLlm({ model: 'primary', prompt: 'hi' })).rejects.toMatchObject({
      details: { kind: 'overloaded' },
    });
    expect(requestsTo('p')).toBe(2);
    expect(breakerOf(h, 'model', 'primary')).toMatchObject({
      state: 'open',
      reason: expect.stringContaining('probe failed'),
    });
    await h.stop();
  });

  it('count slow calls as failures; never refused requests (400, 404) or aborts', async () => {
    const slow = harness({
      latencyThresholdMs: 50,
      breaker: { consecutiveFailures: 2, errorRate: 0, halfOpenAfterMs: 60_000 },
    });
    fake.injectFault({ latencyMs: 120, times: 2, match: { model: 'p' } });
    await run(slow);
    const second = await run(slow);
    // Both answered (slowly): slow is not an error, but it opens the breaker.
    expect(second.result.agents[0]?.model).toBe('primary');
    expect(second.events.find((e) => e.type === 'breaker-open')).toMatchObject({
      scope: 'model',
      reason: expect.stringContaining('slow: first token after'),
    });
    await slow.stop();

    fake.reset();
    const refused = harness({ breaker: { consecutiveFailures: 2, errorRate: 0 } }, { maxRetries: 2 });
    for (const status of [400, 404, 400, 404, 400] as const) {
      fake.injectFault({ status, match: { model: 'p' } });
      const { result } = await run(refused);
      expect(result.agents[0]?.model).toBe('backup');
    }
    // Five calls, five requests (never retried), and the breaker stays closed.
    expect(requestsTo('p')).toBe(5);
    expect(breakerOf(refused, 'model', 'primary')).toMatchObject({ state: 'closed', consecutiveFailures: 0 });

    fake.injectFault({ hang: true, times: 5, match: { model: 'p' } });
    for (let i = 0; i < 3; i++) {
      const controller = new AbortController();
      const call = refused.callLlm({ model: 'primary', prompt: 'hi', signal: controller.signal });
      await until(
        () => fake.requests.filter((r) => r.fault === 'hang').length === i + 1,
        'the hanging request',
      );
      controller.abort(new Error('caller stop'));
      await expect(call).rejects.toMatchObject({ code: 'aborted' });
    }
    expect(breakerOf(refused, 'model', 'primary')?.state).toBe('closed');
    await refused.stop();
  });

  it('keep their state in toJSON for a new registry (restart)', async () => {
    const entries = [primary({ breaker: { consecutiveFailures: 1, errorRate: 0, halfOpenAfterMs: 60_000 } })];
    const registry = new ModelRegistry(entries);
    fake.injectFault({ status: 500, match: { model: 'p' } });
    const model = () => createGatewayModel({ registry, chain: ['primary'], retry: { maxRetries: 0 } });
    await expect(generateText({ model: model(), prompt: 'hi', maxRetries: 0 })).rejects.toBeDefined();
    const saved = JSON.parse(JSON.stringify(registry.breakers.toJSON()));
    const restarted = new ModelRegistry(entries, { breakers: { initialState: saved } });
    const error = await generateText({
      model: createGatewayModel({ registry: restarted, chain: ['primary'] }),
      prompt: 'hi',
      maxRetries: 0,
    }).catch((e: unknown) => e);
    expect(HarnessError.isInstance(error) && error.details.kind).toBe('breaker_open');
    expect(requestsTo('p')).toBe(1);
  });
});

describe('timeouts', () => {
  it('a hang past total_ms is a retryable timeout that falls back, never an abort', async () => {
    const h = harness({ timeouts: { totalMs: 200 } });
    fake.injectFault({ hang: true, match: { model: 'p' } });
    const started = Date.now();
    const result = await h.callLlm({ model: 'primary', prompt: 'hi', fallback: ['backup'] });
    expect(result.model).toBe('backup');
    expect(Date.now() - started).toBeLessThan(1500);
    fake.injectFault({ hang: true, match: { model: 'p' } });
    const alone = (await h
      .callLlm({ model: 'primary', prompt: 'hi' })
      .catch((e: unknown) => e)) as HarnessError;
    expect(alone).toMatchObject({
      code: 'provider_error',
      isRetryable: true,
      details: { kind: 'timeout', timeout: 'total', timeoutMs: 200 },
    });
    await h.stop();
  });

  it('connect and first-token timeouts end a stream that has not started, and it falls back', async () => {
    for (const timeouts of [{ connectMs: 150 }, { firstTokenMs: 150 }]) {
      fake.reset();
      const h = harness({ timeouts });
      fake.injectFault({ hang: true, match: { model: 'p' } });
      const { result, events } = await run(h);
      expect(result.status).toBe('succeeded');
      expect(result.agents[0]?.model).toBe('backup');
      const error = events.find((e) => e.type === 'model-call-error');
      expect(error?.type === 'model-call-error' && error.error.message).toContain(
        timeouts.connectMs ? 'no response within 150 ms' : 'no first token within 150 ms',
      );
      await h.stop();
    }
  });

  it('a stream that stalls after output ends stream_interrupted (between tokens), not replayed', async () => {
    const stalling = new ScriptedModel({ steps: [{ stream: ['a', 'b', 'c'], chunkDelayMs: 300 }] });
    registerProviderType('resilience-stall', { create: () => stalling });
    const h = new Harness({
      models: [{ id: 'stall', type: 'resilience-stall', timeouts: { betweenTokensMs: 150 } }, backup()],
      memory: 'memory://',
      journal: false,
      councils: [
        new Council({
          name: 'C',
          memory: 'memory://',
          agents: [new Agent({ name: 'A', model: 'stall', fallback: ['backup'] })],
        }),
      ],
    });
    const { result, events, types } = await run(h);
    expect(result.status).toBe('failed');
    expect(result.error).toMatchObject({
      code: 'provider_error',
      details: { kind: 'stream_interrupted', cause: 'timeout', timeout: 'between_tokens' },
    });
    expect(types).toContain('stream-interrupted');
    expect(types).not.toContain('model-fallback');
    expect(types.indexOf('token-delta')).toBeLessThan(types.indexOf('stream-interrupted'));
    expect(events.filter((e) => e.type === 'model-call-start').map((e) => e.model)).toEqual(['stall']);
    await h.stop();
  });
});

describe('streams interrupted after output', () => {
  it('end with a stream_interrupted error and event; the policy above decides', async () => {
    const h = harness();
    fake.injectFault({ cutAfterChunks: 2, match: { model: 'p' } });
    const { result, events } = await run(h);
    expect(result.status).toBe('failed');
    expect(result.error).toMatchObject({
      code: 'provider_error',
      isRetryable: true,
      details: { kind: 'stream_interrupted', cause: 'network', model: 'primary' },
    });
    expect(events.find((e) => e.type === 'stream-interrupted')).toMatchObject({
      model: 'primary',
      error: { code: 'provider_error', isRetryable: true },
    });
    expect(requestsTo('b')).toBe(0);
    await h.stop();
  });
});

describe('hedging', () => {
  it('sends the call to the next model when the first has no first token after after_ms; the first to answer wins', async () => {
    const h = harness({ hedge: { afterMs: 100 } });
    fake.injectFault({ latencyMs: 2000, match: { model: 'p' } });
    const started = Date.now();
    const { result, events } = await run(h);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(result.status).toBe('succeeded');
    expect(result.agents[0]?.model).toBe('backup');
    expect(events.find((e) => e.type === 'model-hedge')).toMatchObject({
      from: 'primary',
      to: 'backup',
      afterMs: 100,
    });
    // Both attempts are in the events and the ledger; the loser was aborted.
    expect(events.filter((e) => e.type === 'model-call-start').map((e) => e.model)).toEqual([
      'primary',
      'backup',
    ]);
    expect(events.find((e) => e.type === 'model-call-error')).toMatchObject({
      model: 'primary',
      error: { code: 'aborted' },
    });
    const ledger = h.ledger.ledgerOf(result.runId);
    // In the order the attempts ended: the primary when the backup's first token won.
    expect(ledger?.entries.map((e) => [e.model, e.outcome, e.error?.code])).toEqual([
      ['primary', 'error', 'aborted'],
      ['backup', 'ok', undefined],
    ]);
    await h.stop();
  });

  it('hedges after the p95 of the model once it is known, and not when the primary is fast', async () => {
    const h = harness({ hedge: { after: 'p95' } });
    for (let i = 0; i < 20; i++)
      await h.callLlm({ model: 'primary', prompt: `warm ${i}`, fallback: ['backup'] });
    expect(requestsTo('b')).toBe(0);
    fake.injectFault({ latencyMs: 3000, match: { model: 'p' } });
    const started = Date.now();
    const result = await h.callLlm({ model: 'primary', prompt: 'slow one', fallback: ['backup'] });
    expect(result.model).toBe('backup');
    expect(Date.now() - started).toBeLessThan(1500);
    await h.stop();
  });
});

describe('ensembles in the ledger', () => {
  it("charge an ensemble call its members' cost", async () => {
    const member = (id: string, model: string, price: { input: number; output: number }): ModelEntry => ({
      id,
      type: 'openai-compatible',
      model,
      endpoint: fake.baseUrl('openai-compatible'),
      pricePerMtok: price,
    });
    const h = new Harness({
      models: [
        member('a', 'ma', { input: 1, output: 2 }),
        member('b', 'mb', { input: 3, output: 4 }),
        { id: 'vote', type: 'ensemble', ensemble: { members: ['a', 'b'], vote: 'normalized' } },
      ],
      memory: 'memory://',
      journal: false,
      councils: [
        new Council({ name: 'C', memory: 'memory://', agents: [new Agent({ name: 'A', model: 'vote' })] }),
      ],
    });
    fake.enqueueReply({ text: 'Paris', usage: { inputTokens: 10, outputTokens: 5 } }, { model: 'ma' });
    fake.enqueueReply({ text: 'paris', usage: { inputTokens: 20, outputTokens: 10 } }, { model: 'mb' });
    const { result, events } = await run(h, 'capital of France?');
    expect(result.status).toBe('succeeded');
    const expected = (10 * 1 + 5 * 2 + 20 * 3 + 10 * 4) / 1_000_000;
    const finish = events.find((e) => e.type === 'model-call-finish');
    expect(finish?.type === 'model-call-finish' && finish.costUsd).toBeCloseTo(expected, 12);
    expect(result.usage.costUsd).toBeCloseTo(expected, 12);

    fake.enqueueReply({ text: 'Paris', usage: { inputTokens: 10, outputTokens: 5 } }, { model: 'ma' });
    fake.enqueueReply({ text: 'paris', usage: { inputTokens: 20, outputTokens: 10 } }, { model: 'mb' });
    const direct = await h.callLlm({ model: 'vote', prompt: 'capital of France?' });
    expect(direct.usage.costUsd).toBeCloseTo(expected, 12);
    await h.stop();
  });
});

describe('rate limits and fallback', () => {
  it('a long Retry-After blocks only the model that got it, and no caller waits for it', async () => {
    const model = (id: string, name: string): ModelEntry => ({
      id,
      type: 'openai',
      api: 'chat',
      model: name,
      apiKey: 'sk-rl-1234',
      endpoint: fake.baseUrl('openai'),
    });
    const h = new Harness({
      models: [model('m1', 'gpt-a'), model('m2', 'gpt-b')],
      memory: 'memory://',
      journal: false,
      retry: { maxDelayMs: 2000 },
    });
    fake.injectFault({ status: 429, retryAfterSeconds: 60, match: { model: 'gpt-a' } });
    let started = Date.now();
    expect((await h.callLlm({ model: 'm1', prompt: 'hi', fallback: ['m2'] })).model).toBe('m2');
    expect(Date.now() - started).toBeLessThan(1000);
    // The next call does not wait 60 s in the limiter, nor send m1 a request: m2 at once.
    started = Date.now();
    expect((await h.callLlm({ model: 'm1', prompt: 'hi', fallback: ['m2'] })).model).toBe('m2');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(fake.counters().byModel).toEqual({ 'gpt-a': 1, 'gpt-b': 2 });
    // Alone, m1 fails at once with a retryable rate limit naming the wait.
    const alone = (await h.callLlm({ model: 'm1', prompt: 'hi' }).catch((e: unknown) => e)) as HarnessError;
    expect(alone).toMatchObject({ details: { kind: 'rate_limit', limiter: true } });
    await h.stop();
  });
});

describe('gateway: defaults from YAML', () => {
  it('applies gateway.timeouts to every model without its own', async () => {
    const h = Harness.fromYaml(
      `
gateway:
  timeouts: { total_ms: 200 }
models:
  - id: primary
    type: openai-compatible
    model: p
    endpoint: ${fake.baseUrl('openai-compatible')}
  - id: patient
    type: openai-compatible
    model: p
    endpoint: ${fake.baseUrl('openai-compatible')}
    timeouts: { total_ms: 5000 }
`,
      { memory: 'memory://', journal: false, retry: { maxRetries: 0 } },
    );
    fake.injectFault({ hang: true, match: { model: 'p' } });
    await expect(h.callLlm({ model: 'primary', prompt: 'hi' })).rejects.toMatchObject({
      details: { kind: 'timeout', timeoutMs: 200 },
    });
    expect(h.registry.entry('patient').timeouts).toEqual({ totalMs: 5000 });
    await h.stop();
  });
});
