/**
 * The real AI SDK provider packages against the fake provider server over real HTTP: every family
 * answers, streams, runs a tool round trip and surfaces each injected fault the way the SDK
 * surfaces the real vendor's failure.
 */
import { createAnthropic } from '@ai-sdk/anthropic';
import { createGoogle } from '@ai-sdk/google';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { LanguageModelV4 } from '@ai-sdk/provider';
import { APICallError, embed, generateText, isStepCount, streamText, tool } from 'ai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type FakeFamily,
  FakeProviderServer,
  type FakeRoute,
  runFakeProviderServer,
} from '../src/testing/index.ts';

const apiKey = 'sk-fake-SECRET-7f3a9c2e1d';

let server: FakeProviderServer;

beforeAll(async () => {
  server = await FakeProviderServer.start();
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  server.reset();
});

interface ProviderCase {
  name: string;
  family: FakeFamily;
  route: FakeRoute;
  modelId: string;
  model: () => LanguageModelV4;
}

const cases: ProviderCase[] = [
  {
    name: 'openai (responses)',
    family: 'openai',
    route: 'openai-responses',
    modelId: 'gpt-fake',
    model: () => createOpenAI({ baseURL: server.baseUrl('openai'), apiKey })('gpt-fake'),
  },
  {
    name: 'openai (chat)',
    family: 'openai',
    route: 'openai-chat',
    modelId: 'gpt-fake-chat',
    model: () => createOpenAI({ baseURL: server.baseUrl('openai'), apiKey }).chat('gpt-fake-chat'),
  },
  {
    name: 'anthropic',
    family: 'anthropic',
    route: 'anthropic',
    modelId: 'claude-haiku-4-5',
    model: () => createAnthropic({ baseURL: server.baseUrl('anthropic'), apiKey })('claude-haiku-4-5'),
  },
  {
    name: 'google',
    family: 'google',
    route: 'google',
    modelId: 'gemini-fake',
    model: () => createGoogle({ baseURL: server.baseUrl('google'), apiKey })('gemini-fake'),
  },
  {
    name: 'openai-compatible',
    family: 'openai-compatible',
    route: 'openai-chat',
    modelId: 'local-fake',
    model: () =>
      createOpenAICompatible({
        name: 'local',
        baseURL: server.baseUrl('openai-compatible'),
        apiKey,
        includeUsage: true,
      })('local-fake'),
  },
];

const weather = tool({
  description: 'current weather of a city',
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => ({ city, celsius: 21 }),
});

/** streamText logs stream errors to the console unless given onError; the tests read them from fullStream. */
const quiet = () => {};

/**
 * Drains a streamText result, returning its text deltas and its errors: error parts, and the error
 * the stream itself fails with (a dropped connection errors the stream rather than adding a part).
 */
async function drain(result: {
  fullStream: AsyncIterable<{ type: string; text?: string; error?: unknown }>;
}): Promise<{ deltas: string[]; errors: unknown[] }> {
  const deltas: string[] = [];
  const errors: unknown[] = [];
  try {
    for await (const part of result.fullStream) {
      if (part.type === 'text-delta') deltas.push(part.text ?? '');
      if (part.type === 'error') errors.push(part.error);
    }
  } catch (error) {
    errors.push(error);
  }
  return { deltas, errors };
}

describe.each(cases)('$name through the real provider package', (c) => {
  it('generateText gets the deterministic default reply and usage', async () => {
    const result = await generateText({ model: c.model(), prompt: 'ping the fake', maxRetries: 0 });
    expect(result.text).toBe('fake reply to: ping the fake');
    expect(result.usage.inputTokens).toBeGreaterThan(0);
    expect(result.usage.outputTokens).toBeGreaterThan(0);
    const counters = server.counters();
    expect(counters.total).toBe(1);
    expect(counters.byRoute[c.route]).toBe(1);
    expect(counters.byFamily[c.family]).toBe(1);
    expect(counters.byModel[c.modelId]).toBe(1);
    expect(server.requests[0]).toMatchObject({
      route: c.route,
      family: c.family,
      model: c.modelId,
      stream: false,
    });
  });

  it('generateText returns a scripted reply with scripted usage', async () => {
    server.enqueueReply(
      { text: 'scripted answer', usage: { inputTokens: 11, outputTokens: 3 } },
      { provider: c.family, model: c.modelId },
    );
    const result = await generateText({ model: c.model(), prompt: 'anything', maxRetries: 0 });
    expect(result.text).toBe('scripted answer');
    expect(result.usage).toMatchObject({ inputTokens: 11, outputTokens: 3 });
  });

  it('streamText streams the reply as several deltas', async () => {
    server.enqueueReply({ text: 'one two three four', usage: { inputTokens: 5, outputTokens: 4 } });
    const result = streamText({ model: c.model(), prompt: 'stream please', maxRetries: 0 });
    const { deltas, errors } = await drain(result);
    expect(errors).toEqual([]);
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe('one two three four');
    expect(await result.finishReason).toBe('stop');
    expect(await result.usage).toMatchObject({ inputTokens: 5, outputTokens: 4 });
    expect(server.requests[0]?.stream).toBe(true);
  });

  it('runs a tool round trip: tool call → execute → second request → final text', async () => {
    server.enqueueReply({ toolCalls: [{ name: 'weather', args: { city: 'Oslo' } }] });
    server.enqueueReply({ text: 'It is 21 degrees in Oslo.' });
    const result = await generateText({
      model: c.model(),
      tools: { weather },
      prompt: 'weather in Oslo?',
      stopWhen: isStepCount(3),
      maxRetries: 0,
    });
    expect(result.text).toBe('It is 21 degrees in Oslo.');
    expect(result.steps).toHaveLength(2);
    expect(result.steps[0]?.finishReason).toBe('tool-calls');
    expect(result.steps[0]?.toolResults[0]).toMatchObject({
      toolName: 'weather',
      output: { city: 'Oslo', celsius: 21 },
    });
    expect(server.counters().byRoute[c.route]).toBe(2);
    // The second request carries the tool's output back to the vendor.
    expect(JSON.stringify(server.requests[1]?.body)).toContain('celsius');
  });

  it('runs a streamed tool round trip with streamed tool arguments', async () => {
    server.enqueueReply({ toolCalls: [{ name: 'weather', args: { city: 'Lima' } }] });
    server.enqueueReply({ text: 'Lima is mild.' });
    const result = streamText({
      model: c.model(),
      tools: { weather },
      prompt: 'weather in Lima?',
      stopWhen: isStepCount(3),
      maxRetries: 0,
    });
    const { deltas, errors } = await drain(result);
    expect(errors).toEqual([]);
    expect(deltas.join('')).toBe('Lima is mild.');
    const steps = await result.steps;
    expect(steps[0]?.toolCalls[0]).toMatchObject({ toolName: 'weather', input: { city: 'Lima' } });
  });

  it('surfaces a 429 with Retry-After as a retryable APICallError with the header visible', async () => {
    server.injectFault({
      status: 429,
      retryAfterSeconds: 7,
      rateLimitHeaders: true,
      match: { provider: c.family },
    });
    const error = await generateText({ model: c.model(), prompt: 'x', maxRetries: 0 }).catch(
      (e: unknown) => e,
    );
    expect(APICallError.isInstance(error)).toBe(true);
    const apiError = error as APICallError;
    expect(apiError.statusCode).toBe(429);
    expect(apiError.isRetryable).toBe(true);
    expect(apiError.responseHeaders?.['retry-after']).toBe('7');
    if (c.family === 'anthropic') {
      expect(apiError.responseHeaders?.['anthropic-ratelimit-requests-remaining']).toBe('0');
    } else if (c.family !== 'google') {
      expect(apiError.responseHeaders?.['x-ratelimit-remaining-requests']).toBe('0');
      expect(apiError.responseHeaders?.['x-ratelimit-reset-requests']).toBe('7s');
    }
    expect(server.counters().faultsServed).toBe(1);
    expect(server.requests[0]?.fault).toBe('status');
  });

  it('surfaces a 400 as a non-retryable APICallError with the vendor message', async () => {
    server.injectFault({ status: 400, message: 'bad field: temperature' });
    const error = await generateText({ model: c.model(), prompt: 'x', maxRetries: 0 }).catch(
      (e: unknown) => e,
    );
    expect(APICallError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ statusCode: 400, isRetryable: false, message: 'bad field: temperature' });
  });

  it('surfaces a stream cut after N chunks as a stream error', async () => {
    server.enqueueReply({ text: 'this answer will never finish arriving at the client' });
    server.injectFault({ cutAfterChunks: 3 });
    const { deltas, errors } = await drain(
      streamText({ model: c.model(), prompt: 'x', maxRetries: 0, onError: quiet }),
    );
    expect(errors.length).toBeGreaterThan(0);
    expect(deltas.join('')).not.toBe('this answer will never finish arriving at the client');
  });

  it('surfaces malformed JSON as an error (JSON body and SSE data)', async () => {
    server.injectFault({ malformedJson: true, times: 2 });
    await expect(generateText({ model: c.model(), prompt: 'x', maxRetries: 0 })).rejects.toThrow();
    const { errors } = await drain(
      streamText({ model: c.model(), prompt: 'x', maxRetries: 0, onError: quiet }),
    );
    expect(errors.length).toBeGreaterThan(0);
    expect(server.counters().faultsServed).toBe(2);
  });

  it('ends a hanging request quickly when the caller aborts', async () => {
    server.injectFault({ hang: true });
    const started = performance.now();
    const pending = generateText({
      model: c.model(),
      prompt: 'x',
      maxRetries: 0,
      abortSignal: AbortSignal.timeout(50),
    });
    await expect(pending).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(1_000);
    // The server is free again: the next request is answered normally.
    const next = await generateText({ model: c.model(), prompt: 'after the hang', maxRetries: 0 });
    expect(next.text).toBe('fake reply to: after the hang');
  });
});

describe('faults and matching', () => {
  const openai = () => createOpenAI({ baseURL: server.baseUrl('openai'), apiKey });

  it('applies a fault only to matching requests, `times` times, and delays with latencyMs', async () => {
    server.injectFault({ status: 503, times: 2, match: { model: 'flaky' } });
    server.injectFault({ latencyMs: 120, match: { path: '/v1/chat/completions' } });
    const flaky = openai().chat('flaky');
    for (let i = 0; i < 2; i++) {
      await expect(generateText({ model: flaky, prompt: 'x', maxRetries: 0 })).rejects.toMatchObject({
        statusCode: 503,
        isRetryable: true,
      });
    }
    const started = performance.now();
    const slow = await generateText({ model: openai().chat('steady'), prompt: 'slow', maxRetries: 0 });
    expect(slow.text).toBe('fake reply to: slow');
    expect(performance.now() - started).toBeGreaterThanOrEqual(100);
    const ok = await generateText({ model: flaky, prompt: 'recovered', maxRetries: 0 });
    expect(ok.text).toBe('fake reply to: recovered');
    expect(server.counters()).toMatchObject({ total: 4, faultsServed: 3, byModel: { flaky: 3, steady: 1 } });
  });

  it('cuts a stream before its first event, and cuts a JSON body half way', async () => {
    server.injectFault({ cutAfterChunks: 0, times: 2 });
    const model = openai().chat('m');
    const { deltas, errors } = await drain(streamText({ model, prompt: 'x', maxRetries: 0, onError: quiet }));
    expect(deltas).toEqual([]);
    expect(errors.length).toBeGreaterThan(0);
    await expect(generateText({ model, prompt: 'x', maxRetries: 0 })).rejects.toThrow();
    expect(server.requests.map((request) => request.fault)).toEqual(['cut', 'cut']);
  });

  it('leaves a matched reply queued until a matching request takes it', async () => {
    server.enqueueReply({ text: 'for model b only' }, { model: 'b' });
    const first = await generateText({ model: openai().chat('a'), prompt: 'first', maxRetries: 0 });
    expect(first.text).toBe('fake reply to: first');
    const second = await generateText({ model: openai().chat('b'), prompt: 'second', maxRetries: 0 });
    expect(second.text).toBe('for model b only');
    const third = await generateText({ model: openai().chat('b'), prompt: 'third', maxRetries: 0 });
    expect(third.text).toBe('fake reply to: third');
  });

  it('answers 529 overloaded_error in Anthropic shape and resets sockets', async () => {
    server.injectFault({ status: 529 });
    server.injectFault({ reset: true });
    const anthropic = createAnthropic({ baseURL: server.baseUrl('anthropic'), apiKey })('claude-haiku-4-5');
    const overloaded = await generateText({ model: anthropic, prompt: 'x', maxRetries: 0 }).catch(
      (e: unknown) => e,
    );
    expect(overloaded).toMatchObject({ statusCode: 529, isRetryable: true, message: 'Overloaded' });
    expect(JSON.parse((overloaded as APICallError).responseBody ?? '')).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'Overloaded' },
    });
    await expect(generateText({ model: anthropic, prompt: 'x', maxRetries: 0 })).rejects.toThrow();
  });

  it('sends Google errors in Google shape with RetryInfo', async () => {
    server.injectFault({ status: 429, retryAfterSeconds: 30 });
    const google = createGoogle({ baseURL: server.baseUrl('google'), apiKey })('gemini-fake');
    const error = (await generateText({ model: google, prompt: 'x', maxRetries: 0 }).catch(
      (e: unknown) => e,
    )) as APICallError;
    expect(JSON.parse(error.responseBody ?? '')).toMatchObject({
      error: { code: 429, status: 'RESOURCE_EXHAUSTED', details: [{ retryDelay: '30s' }] },
    });
  });

  it('embeds deterministically through the real embedding model', async () => {
    const model = openai().embedding('text-embedding-fake');
    const first = await embed({ model, value: 'hello', maxRetries: 0 });
    const again = await embed({ model, value: 'hello', maxRetries: 0 });
    const other = await embed({ model, value: 'world', maxRetries: 0 });
    expect(first.embedding).toHaveLength(64);
    expect(first.embedding).toEqual(again.embedding);
    expect(first.embedding).not.toEqual(other.embedding);
    expect(Math.hypot(...first.embedding)).toBeCloseTo(1, 6);
    expect(server.counters().byRoute['openai-embeddings']).toBe(3);
  });

  it('close() ends hanging requests and never leaves the process waiting', async () => {
    const own = await FakeProviderServer.start();
    own.injectFault({ hang: true });
    const model = createOpenAI({ baseURL: own.baseUrl('openai'), apiKey }).chat('m');
    const pending = generateText({ model, prompt: 'x', maxRetries: 0 }).catch((e: unknown) => e);
    while (own.counters().total === 0) await new Promise((resolve) => setImmediate(resolve));
    const started = performance.now();
    await own.close();
    expect(await pending).toBeInstanceOf(Error);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

describe('recorded requests', () => {
  it('never contain the API key value, in headers, path or anywhere else', async () => {
    for (const c of cases) {
      await generateText({ model: c.model(), prompt: 'keys stay secret', maxRetries: 0 });
    }
    await generateText({
      model: createOpenAI({ baseURL: server.baseUrl('openai'), apiKey }).chat('m'),
      prompt: 'x',
      maxRetries: 0,
      headers: { 'api-key': apiKey },
    });
    expect(server.requests).toHaveLength(cases.length + 1);
    const recorded = JSON.stringify(server.requests);
    expect(recorded).not.toContain(apiKey);
    expect(recorded).not.toContain('SECRET');
    const headers = server.requests.map((request) => request.headers);
    expect(headers[0]?.authorization).toBe('[REDACTED]');
    expect(headers.find((h) => h['x-api-key'] !== undefined)?.['x-api-key']).toBe('[REDACTED]');
    expect(headers.find((h) => h['x-goog-api-key'] !== undefined)?.['x-goog-api-key']).toBe('[REDACTED]');
    const overHttp = await (await fetch(`${server.url}/_control/requests`)).text();
    expect(overHttp).not.toContain(apiKey);
  });
});

describe('control API over HTTP', () => {
  const post = (path: string, body: string) =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  it('queues replies and faults, reports counters and requests, and resets', async () => {
    expect(
      (
        await post(
          '/_control/replies',
          JSON.stringify({ text: 'from control', match: { provider: 'anthropic' } }),
        )
      ).status,
    ).toBe(201);
    expect(
      (await post('/_control/faults', JSON.stringify({ status: 500, match: { provider: 'google' } }))).status,
    ).toBe(201);

    const anthropic = createAnthropic({ baseURL: server.baseUrl('anthropic'), apiKey })('claude-haiku-4-5');
    expect((await generateText({ model: anthropic, prompt: 'x', maxRetries: 0 })).text).toBe('from control');
    const google = createGoogle({ baseURL: server.baseUrl('google'), apiKey })('gemini-fake');
    await expect(generateText({ model: google, prompt: 'x', maxRetries: 0 })).rejects.toMatchObject({
      statusCode: 500,
    });

    const counters = await (await fetch(`${server.url}/_control/counters`)).json();
    expect(counters).toMatchObject({ total: 2, faultsServed: 1, byRoute: { anthropic: 1, google: 1 } });
    const requests = (await (await fetch(`${server.url}/_control/requests`)).json()) as Array<{
      route: string;
    }>;
    expect(requests.map((request) => request.route)).toEqual(['anthropic', 'google']);

    expect((await post('/_control/reset', '')).status).toBe(200);
    expect(await (await fetch(`${server.url}/_control/counters`)).json()).toMatchObject({
      total: 0,
      faultsServed: 0,
    });
  });

  it('answers 400 naming the JSON pointer of a bad fault spec', async () => {
    const badStatus = await post('/_control/faults', JSON.stringify({ status: 418 }));
    expect(badStatus.status).toBe(400);
    expect(await badStatus.json()).toMatchObject({
      error: { code: 'fake_spec_invalid', pointer: '/status' },
    });

    const badMatch = await post(
      '/_control/faults',
      JSON.stringify({ hang: true, match: { provider: 'azure' } }),
    );
    expect(await badMatch.json()).toMatchObject({ error: { pointer: '/match/provider' } });

    const twoKinds = await post('/_control/faults', JSON.stringify({ hang: true, reset: true }));
    expect(await twoKinds.json()).toMatchObject({ error: { pointer: '/reset' } });

    const badReply = await post('/_control/replies', JSON.stringify({ toolCalls: [{ name: '', args: {} }] }));
    expect(badReply.status).toBe(400);
    expect(await badReply.json()).toMatchObject({ error: { pointer: '/toolCalls/0/name' } });

    const badJson = await post('/_control/faults', '{"status": 429');
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toMatchObject({ error: { code: 'invalid_json', pointer: '' } });

    expect(() => server.injectFault({ status: 418 as 400 })).toThrow(/\/status/);
    expect(server.counters().total).toBe(0);
  });

  it('runFakeProviderServer logs one line with the URL and every base URL', async () => {
    const lines: string[] = [];
    const run = await runFakeProviderServer({ port: 0, log: (line) => lines.push(line) });
    try {
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(run.url);
      for (const family of ['openai', 'anthropic', 'google', 'openai-compatible'] as const) {
        expect(lines[0]).toContain(run.baseUrl(family));
      }
    } finally {
      await run.close();
    }
  });
});
