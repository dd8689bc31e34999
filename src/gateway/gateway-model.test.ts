// The gateway's use of a CallLimiter: one permit per attempt on a concrete model, released once
// with how the attempt ended (usage, headers, classified failure, cancel), for generate and stream.
import { APICallError } from '@ai-sdk/provider';
import { generateText, streamText } from 'ai';
import { describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { registerProviderType } from '../models/providers.ts';
import { ModelRegistry } from '../models/registry.ts';
import { ScriptedModel, type ScriptStep } from '../testing/scripted-model.ts';
import { createGatewayModel, defaultRetryPolicy, rateLimitWait } from './gateway-model.ts';
import type { CallLimiter, CallOutcome, CallPermitRequest } from './limiter.ts';

/** A limiter that grants at once and records what the gateway told it. */
function recordingLimiter() {
  const events: Array<{ acquire: CallPermitRequest } | { release: CallOutcome }> = [];
  const limiter: CallLimiter = {
    acquire: async (request) => {
      events.push({ acquire: request });
      return { release: (outcome) => events.push({ release: outcome }) };
    },
  };
  return { limiter, events };
}

let n = 0;
/** A registry whose model `m` plays `steps` (a fresh provider type per test). */
let scripted: ScriptedModel;
function registryOf(steps: ScriptStep[], extra: Record<string, unknown> = {}) {
  const type = `scripted-limiter-${++n}`;
  const model = new ScriptedModel({ steps, provider: 'scripted.chat' });
  scripted = model;
  registerProviderType(type, { create: () => model });
  return new ModelRegistry([{ id: 'm', type, maxOutputTokens: 100, ...extra }]);
}

const releases = (events: ReturnType<typeof recordingLimiter>['events']) =>
  events.flatMap((e) => ('release' in e ? [e.release] : []));

describe('gateway model with a limiter', () => {
  it('asks a permit with the estimate (prompt bytes / 4 + max output) and releases it with usage', async () => {
    const { limiter, events } = recordingLimiter();
    const registry = registryOf([{ text: 'ok', usage: { inputTokens: 7, outputTokens: 2 } }], {
      rateLimits: { rpm: 60 },
      latencyThresholdMs: 500,
    });
    const model = createGatewayModel({ registry, chain: ['m'], limiter });
    // 399 characters and a newline after the message: 400 bytes, 100 tokens.
    await generateText({ model, prompt: 'x'.repeat(399), maxRetries: 0 });
    expect(events).toHaveLength(2);
    expect(events[0]).toEqual({
      acquire: {
        model: 'm',
        provider: 'scripted.chat',
        providerType: expect.stringMatching(/^scripted-limiter-/),
        estimatedTokens: 100 + 100,
        rateLimits: { rpm: 60 },
        latencyThresholdMs: 500,
        // A blocked model is waited for at most maxDelayMs (with retries on).
        maxWaitMs: defaultRetryPolicy.maxDelayMs,
      },
    });
    expect(releases(events)).toEqual([
      { ok: true, latencyMs: expect.any(Number), inputTokens: 7, outputTokens: 2 },
    ]);
  });

  it('releases a failed attempt with the classified failure and the response headers', async () => {
    const { limiter, events } = recordingLimiter();
    const error = new APICallError({
      message: 'Too Many Requests',
      url: 'http://x',
      requestBodyValues: {},
      statusCode: 429,
      responseHeaders: { 'retry-after': '0', 'x-ratelimit-remaining-requests': '0' },
      isRetryable: true,
    });
    const registry = registryOf([{ error }, { text: 'ok' }]);
    const model = createGatewayModel({ registry, chain: ['m'], limiter });
    const result = await generateText({ model, prompt: 'hi', maxRetries: 0 });
    expect(result.text).toBe('ok');
    const [failed, ok] = releases(events);
    expect(failed).toMatchObject({
      ok: false,
      headers: { 'retry-after': '0', 'x-ratelimit-remaining-requests': '0' },
    });
    expect(failed?.failure).toMatchObject({
      code: 'provider_error',
      details: { kind: 'rate_limit', retryAfterMs: 0 },
    });
    expect(ok).toMatchObject({ ok: true });
    expect(events.filter((e) => 'acquire' in e)).toHaveLength(2);
  });

  it('releases a stream once, when it finishes', async () => {
    const { limiter, events } = recordingLimiter();
    const registry = registryOf([{ stream: ['a', 'b', 'c'], usage: { inputTokens: 4, outputTokens: 3 } }]);
    const model = createGatewayModel({ registry, chain: ['m'], limiter });
    const result = streamText({ model, prompt: 'hi', maxRetries: 0 });
    let text = '';
    for await (const delta of result.textStream) {
      text += delta;
    }
    expect(text).toBe('abc');
    expect(releases(events)).toEqual([
      { ok: true, latencyMs: expect.any(Number), inputTokens: 4, outputTokens: 3 },
    ]);
  });

  it('releases a stream that fails after its first output with the failure', async () => {
    const { limiter, events } = recordingLimiter();
    const boom = new HarnessError('provider_error', 'cut', {
      isRetryable: true,
      details: { kind: 'network' },
    });
    const registry = registryOf([{ streamError: boom, afterChunks: 1, stream: ['a', 'b'] }]);
    const model = createGatewayModel({ registry, chain: ['m'], limiter });
    const result = streamText({ model, prompt: 'hi', maxRetries: 0, onError: () => {} });
    for await (const _ of result.fullStream) {
      // drain
    }
    expect(releases(events)).toHaveLength(1);
    expect(releases(events)[0]).toMatchObject({ ok: false, failure: { details: { kind: 'network' } } });
  });

  it('releases a stream its consumer cancels as cancelled', async () => {
    const { limiter, events } = recordingLimiter();
    const registry = registryOf([{ stream: ['a', 'b', 'c', 'd'], chunkDelayMs: 5 }]);
    const model = createGatewayModel({ registry, chain: ['m'], limiter });
    const { stream } = await model.doStream({
      prompt: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
    });
    const reader = stream.getReader();
    await reader.read();
    await reader.cancel('enough');
    expect(releases(events)).toEqual([{ ok: true, latencyMs: expect.any(Number), cancelled: true }]);
  });

  it('an abort while waiting for a permit is terminal: no provider call, no fallback', async () => {
    const registry = registryOf([{ text: 'never' }]);
    const limiter: CallLimiter = {
      acquire: (_request, signal) =>
        new Promise((_resolve, reject) => {
          const abort = () => reject(new HarnessError('aborted', 'aborted while waiting'));
          if (signal?.aborted) abort();
          else signal?.addEventListener('abort', abort);
        }),
    };
    const model = createGatewayModel({ registry, chain: ['m', 'm'], limiter });
    const controller = new AbortController();
    const call = generateText({ model, prompt: 'hi', maxRetries: 0, abortSignal: controller.signal });
    setTimeout(() => controller.abort(), 10);
    await expect(call).rejects.toMatchObject({ code: 'aborted' });
    expect(scripted.calls).toHaveLength(0);
  });
});

describe('rateLimitWait', () => {
  const policy = { ...defaultRetryPolicy, maxDelayMs: 5000, maxRateLimitWaitMs: 6000 };
  const failure = (kind: string, retryAfterMs?: number) =>
    new HarnessError('provider_error', 'x', {
      isRetryable: true,
      details: { kind, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
    });

  it('waits what a rate limit asks while the per-call budget lasts, else falls back', () => {
    expect(rateLimitWait(failure('rate_limit', 2000), 0, policy)).toBe(2000);
    expect(rateLimitWait(failure('rate_limit', 2000), 4000, policy)).toBe(2000);
    expect(rateLimitWait(failure('rate_limit', 2000), 4001, policy)).toBeNull();
    // One wait is still at most maxDelayMs.
    expect(rateLimitWait(failure('rate_limit', 5001), 0, policy)).toBeNull();
  });

  it('leaves other failures, and rate limits without a wait, to retryDelay', () => {
    expect(rateLimitWait(failure('rate_limit'), 0, policy)).toBeUndefined();
    expect(rateLimitWait(failure('overloaded', 1000), 0, policy)).toBeUndefined();
    expect(rateLimitWait(failure('server'), 0, policy)).toBeUndefined();
  });
});

describe('gateway model paced by its limiter', () => {
  /** A limiter that grants at once and holds every answer `holdMs` at `pace`, counting the holds. */
  function pacingLimiter(holdMs: number) {
    const held = { count: 0 };
    const limiter: CallLimiter = {
      acquire: async () => ({ release: () => {} }),
      pace: () => {
        held.count++;
        return new Promise<void>((resolve) => setTimeout(resolve, holdMs));
      },
    };
    return { limiter, held };
  }

  it('does not charge the time a stream waits its turn to its timeouts: no timeout, no retry', async () => {
    const registry = registryOf([{ stream: ['held ', 'answer'] }], {
      timeouts: { totalMs: 200, betweenTokensMs: 100 },
    });
    const { limiter, held } = pacingLimiter(400);
    const model = createGatewayModel({ registry, chain: ['m'], limiter });
    const result = streamText({ model, prompt: 'hi', maxRetries: 0 });
    expect(await result.text).toBe('held answer');
    expect(held.count).toBe(1);
    expect(scripted.calls).toHaveLength(1);
  });

  it('decides a hedged race when the answer arrives, not when it has waited its turn', async () => {
    const type = `scripted-hedge-${++n}`;
    const primary = new ScriptedModel({ steps: [{ text: 'primary' }], delayMs: 20, modelId: 'p' });
    const backup = new ScriptedModel({ steps: [{ text: 'backup' }], modelId: 'b' });
    registerProviderType(type, { create: ({ entry }) => (entry.id === 'p' ? primary : backup) });
    const registry = new ModelRegistry([
      { id: 'p', type, hedge: { afterMs: 100 } },
      { id: 'b', type },
    ]);
    const { limiter } = pacingLimiter(300);
    const model = createGatewayModel({ registry, chain: ['p', 'b'], limiter });
    const result = await generateText({ model, prompt: 'hi', maxRetries: 0 });
    expect(result.text).toBe('primary');
    expect(backup.calls).toHaveLength(0);
  });
});
