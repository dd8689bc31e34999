// Every registry provider type, end to end through the harness (registry → gateway → the real
// AI SDK provider package → HTTP) against FakeProviderServer's real wire formats.
import { Agent, Council, Harness, HarnessError, type ModelEntry, type RunEvent, Skill } from 'forge-harness';
import { type FakeFamily, FakeProviderServer, fakeEmbedding } from 'forge-harness/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

let fake: FakeProviderServer;
beforeAll(async () => {
  fake = await FakeProviderServer.start();
});
afterAll(() => fake.close());
beforeEach(() => fake.reset());

const key = 'sk-provider-types-test-0042';
const cases: Array<{ name: string; family: FakeFamily; entry: (url: string) => ModelEntry }> = [
  {
    name: 'openai (responses)',
    family: 'openai',
    entry: (url) => ({ id: 'm', type: 'openai', endpoint: url, apiKey: key }),
  },
  {
    name: 'openai (chat)',
    family: 'openai',
    entry: (url) => ({ id: 'm', type: 'openai', api: 'chat', endpoint: url, apiKey: key }),
  },
  {
    name: 'anthropic',
    family: 'anthropic',
    entry: (url) => ({ id: 'm', type: 'anthropic', endpoint: url, apiKey: key }),
  },
  {
    name: 'google',
    family: 'google',
    entry: (url) => ({ id: 'm', type: 'google', model: 'gemini-1.5-pro', endpoint: url, apiKey: key }),
  },
  {
    name: 'openai-compatible',
    family: 'openai-compatible',
    entry: (url) => ({ id: 'm', type: 'openai-compatible', endpoint: url }),
  },
  {
    name: 'local (Ollama-style endpoint)',
    family: 'openai-compatible',
    entry: (url) => ({ id: 'm', type: 'local', model: 'llama3:8b', endpoint: url }),
  },
];

describe.each(cases)('provider type $name', ({ family, entry }) => {
  const harness = () =>
    new Harness({
      models: [
        { ...entry(fake.baseUrl(family)), pricePerMtok: { input: 1, output: 2 }, contextWindow: 100_000 },
      ],
      memory: 'memory://',
      // These tests look at single calls and their errors; retries are tested in gateway-retry.test.ts.
      retry: { maxRetries: 0 },
    });

  it('generates text, with usage and cost', async () => {
    fake.enqueueReply({ text: 'Your order ships today.', usage: { inputTokens: 1000, outputTokens: 500 } });
    const result = await harness().callLlm({ model: 'm', prompt: 'Where is my order?', maxTokens: 50 });
    expect(result.text).toBe('Your order ships today.');
    expect(result.usage).toMatchObject({ inputTokens: 1000, outputTokens: 500, modelCalls: 1 });
    expect(result.usage.costUsd).toBeCloseTo((1000 * 1 + 500 * 2) / 1e6, 9);
    expect(fake.counters().byFamily[family]).toBe(1);
  });

  it('streams text through the same path', async () => {
    fake.enqueueReply({ text: 'Streaming works across every provider type.' });
    const stream = harness().streamLlm({ model: 'm', prompt: 'Say something' });
    const deltas: string[] = [];
    for await (const delta of stream.textStream) deltas.push(delta);
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe('Streaming works across every provider type.');
    expect((await stream.result).text).toBe('Streaming works across every provider type.');
  });

  it('runs a council whose model calls a skill as a tool', async () => {
    const lookup = new Skill({
      name: 'LookupOrder',
      description: 'Looks up an order',
      input: z.object({ orderId: z.string() }),
      run: ({ orderId }) => ({ orderId, status: 'shipped' }),
    });
    fake.enqueueReply({ toolCalls: [{ name: 'LookupOrder', args: { orderId: '12345' } }] });
    fake.enqueueReply({ text: 'Order 12345 has shipped.' });
    const h = new Harness({
      models: [entry(fake.baseUrl(family))],
      memory: 'memory://',
      councils: [
        new Council({ name: 'C', agents: [new Agent({ name: 'A', model: 'm', skills: [lookup] })] }),
      ],
    });
    const events: RunEvent[] = [];
    const result = await h.run('C', 'Where is order 12345?', { onEvent: (e) => events.push(e) });
    expect(result.error?.format()).toBeUndefined();
    expect(result.output).toBe('Order 12345 has shipped.');
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'tool-call-finish',
        tool: 'LookupOrder',
        output: { orderId: '12345', status: 'shipped' },
      }),
    );
    // The second request carried the tool result back to the provider.
    expect(JSON.stringify(fake.requests.at(-1)?.body)).toContain('shipped');
  });

  it('reports a 429 as a retryable provider_error with Retry-After, and a 400 as not retryable', async () => {
    fake.injectFault({ status: 429, retryAfterSeconds: 7, rateLimitHeaders: true });
    const limited = (await harness()
      .callLlm({ model: 'm', prompt: 'hi' })
      .catch((e: unknown) => e)) as HarnessError;
    expect(HarnessError.isInstance(limited)).toBe(true);
    expect(limited.code).toBe('provider_error');
    expect(limited.isRetryable).toBe(true);
    expect(limited.details).toMatchObject({ model: 'm', statusCode: 429, retryAfter: '7' });

    fake.injectFault({ status: 400, message: 'bad request: temperature out of range' });
    const bad = (await harness()
      .callLlm({ model: 'm', prompt: 'hi' })
      .catch((e: unknown) => e)) as HarnessError;
    expect(bad.code).toBe('provider_error');
    expect(bad.isRetryable).toBe(false);
    expect(bad.details.statusCode).toBe(400);
    expect(JSON.stringify(fake.requests)).not.toContain(key);
  });
});

describe('embedding models from the registry', () => {
  it('embeds through the OpenAI and OpenAI-compatible wire formats', async () => {
    const harness = new Harness({
      models: [
        {
          id: 'oa',
          type: 'openai',
          model: 'text-embedding-3-small',
          endpoint: fake.baseUrl('openai'),
          apiKey: key,
        },
        {
          id: 'local',
          type: 'local',
          model: 'nomic-embed-text',
          endpoint: fake.baseUrl('openai-compatible'),
        },
      ],
      memory: 'memory://',
    });
    for (const id of ['oa', 'local']) {
      const vectors = await harness.registry.embedder(id)(['refund policy', 'shipping times']);
      expect(vectors).toEqual([fakeEmbedding('refund policy'), fakeEmbedding('shipping times')]);
    }
    expect(fake.counters().byRoute['openai-embeddings']).toBe(2);
  });

  it('refuses a provider without embeddings, and reports provider failures typed', async () => {
    const harness = new Harness({
      models: [
        { id: 'claude', type: 'anthropic', apiKey: key, endpoint: fake.baseUrl('anthropic') },
        {
          id: 'oa',
          type: 'openai',
          model: 'text-embedding-3-small',
          endpoint: fake.baseUrl('openai'),
          apiKey: key,
        },
      ],
      memory: 'memory://',
    });
    expect(() => harness.registry.embedder('claude')).toThrow(
      expect.objectContaining({ code: 'unknown_model' }),
    );
    fake.injectFault({ status: 503 });
    const error = (await harness.registry
      .embedder('oa')(['x'])
      .catch((e: unknown) => e)) as HarnessError;
    expect(error.code).toBe('provider_error');
    expect(error.isRetryable).toBe(true);
  });
});
