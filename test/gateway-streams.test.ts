// The founding decisions on the model call path (ARCHITECTURE §6), through the public API against
// FakeProviderServer: streams fall back only before their first output and never replay after it;
// failures are typed and redacted; abort is terminal; events keep their order; every call is paid for.

import type { LanguageModelV4, LanguageModelV4StreamPart } from '@ai-sdk/provider';
import {
  Agent,
  Council,
  type CouncilOptions,
  Harness,
  HarnessError,
  Memory,
  type RunEvent,
  registerProviderType,
  Skill,
} from 'forge-harness';
import { FakeProviderServer } from 'forge-harness/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

let fake: FakeProviderServer;
beforeAll(async () => {
  fake = await FakeProviderServer.start();
});
afterAll(() => fake.close());
beforeEach(() => fake.reset());

const key = 'sk-stream-test-secret-77';
const models = () => [
  {
    id: 'primary',
    type: 'openai-compatible' as const,
    model: 'p',
    endpoint: fake.baseUrl('openai-compatible'),
    apiKey: key,
  },
  {
    id: 'backup',
    type: 'openai-compatible' as const,
    model: 'b',
    endpoint: fake.baseUrl('openai-compatible'),
  },
  { id: 'sim', type: 'simulated' as const },
];
const council = (
  agent: Partial<ConstructorParameters<typeof Agent>[0]>,
  extra: Partial<CouncilOptions> = {},
) =>
  new Council({
    name: 'C',
    memory: 'memory://',
    agents: [new Agent({ name: 'A', model: 'primary', ...agent })],
    ...extra,
  });

describe('streams and fallback', () => {
  it('a stream cut before any output falls back to the next model', async () => {
    // Cut on the first try and on both retries, so the chain moves on.
    fake.injectFault({ cutAfterChunks: 0, times: 3, match: { model: 'p' } });
    const harness = new Harness({ models: models(), councils: [council({ fallback: ['backup'] })] });
    const run = harness.run('C', 'hello world');
    const result = await run;
    expect(result.status).toBe('succeeded');
    expect(result.agents[0]?.model).toBe('backup');
    expect(run.events.map((e) => e.type)).toContain('model-fallback');
    await harness.stop();
  });

  it('a stream cut after output is never replayed: a typed, retryable, redacted provider_error', async () => {
    fake.injectFault({ cutAfterChunks: 2, match: { model: 'p' } });
    const harness = new Harness({ models: models(), councils: [council({ fallback: ['backup'] })] });
    // Streamed although nobody watches live (then the run would not stream): the test reads run.events.
    const run = harness.run('C', 'hello world', { stream: true });
    const result = await run;
    expect(result.status).toBe('failed');
    expect(result.error).toMatchObject({ code: 'provider_error', isRetryable: true });
    const types = run.events.map((e) => e.type);
    expect(types).not.toContain('model-fallback');
    expect(types).toContain('model-call-error');
    expect(types.indexOf('token-delta')).toBeLessThan(types.indexOf('model-call-error'));
    expect(JSON.stringify(run.events) + result.error?.format()).not.toContain(key);
    expect(fake.counters().byModel.b ?? 0).toBe(0);
    await harness.stop();
  });

  it('streamLlm: cut after output throws provider_error from textStream; abort throws aborted', async () => {
    const harness = new Harness({ models: models(), memory: 'memory://' });
    fake.injectFault({ cutAfterChunks: 2, match: { model: 'p' } });
    const cut = harness.streamLlm({ model: 'primary', prompt: 'hello world', fallback: ['backup'] });
    let text = '';
    const error = await (async () => {
      for await (const delta of cut.textStream) text += delta;
    })().catch((e: unknown) => e);
    expect(HarnessError.isInstance(error) && error.code).toBe('provider_error');
    expect(text.length).toBeGreaterThan(0);
    await expect(cut.result).rejects.toMatchObject({ code: 'provider_error' });

    const controller = new AbortController();
    controller.abort(new Error('stop'));
    const aborted = harness.streamLlm({ model: 'sim', prompt: 'hello', signal: controller.signal });
    const abortError = await (async () => {
      for await (const _ of aborted.textStream) {
        // drain
      }
    })().catch((e: unknown) => e);
    expect(HarnessError.isInstance(abortError) && abortError.code).toBe('aborted');
  });

  it('skips an unknown id in a skill fallback chain the same way with and without events', async () => {
    const ask = new Skill({
      name: 'Ask',
      description: 'asks another model',
      input: z.object({}),
      run: async (_input, context) =>
        (await context.callLlm({ model: 'primary', fallback: ['typo-model', 'backup'], prompt: 'q' })).model,
    });
    fake.injectFault({ status: 503, times: 3, match: { model: 'p' } });
    fake.enqueueReply({ toolCalls: [{ name: 'Ask', args: {} }] }, { model: 'b' });
    fake.enqueueReply({ text: 'done' }, { model: 'b' });
    const harness = new Harness({
      models: models(),
      councils: [council({ model: 'backup', skills: [ask] })],
    });
    const events: RunEvent[] = [];
    const result = await harness.run('C', 'go', { onEvent: (e) => events.push(e) });
    expect(result.status).toBe('succeeded');
    expect(events.find((e) => e.type === 'tool-call-finish')).toMatchObject({ output: 'backup' });
    await harness.stop();
  });
});

describe('events, usage and abort', () => {
  it('keeps model-call events in order with steps and tokens', async () => {
    const harness = new Harness({
      models: models(),
      councils: [council({ model: 'sim', instructions: 'Greet.' })],
    });
    const run = harness.run('C', 'hello friend', { stream: true });
    await run;
    const types = run.events.map((e) => e.type);
    const at = (t: string) => types.indexOf(t as RunEvent['type']);
    expect(at('step-start')).toBeLessThan(at('model-call-start'));
    expect(at('model-call-start')).toBeLessThan(at('token-delta'));
    expect(types.lastIndexOf('token-delta')).toBeLessThan(at('model-call-finish'));
    expect(at('model-call-finish')).toBeLessThan(at('step-finish'));
    await harness.stop();
  });

  it("charges the run with a skill's model call even when that call then fails", async () => {
    const classify = new Skill({
      name: 'Classify',
      description: 'classify',
      input: z.object({}),
      run: async (_input, context) => {
        try {
          await context.callLlm({
            model: 'backup',
            prompt: 'classify this',
            schema: z.object({ intent: z.string() }),
          });
          return { ok: true };
        } catch (error) {
          return { failed: (error as HarnessError).code };
        }
      },
    });
    const priced = models().map((m) => ({ ...m, pricePerMtok: { input: 1000, output: 1000 } }));
    fake.enqueueReply(
      { toolCalls: [{ name: 'Classify', args: {} }], usage: { inputTokens: 10, outputTokens: 10 } },
      { model: 'p' },
    );
    fake.enqueueReply(
      { text: 'not json at all', usage: { inputTokens: 500, outputTokens: 500 } },
      { model: 'b' },
    );
    fake.enqueueReply({ text: 'done', usage: { inputTokens: 10, outputTokens: 10 } }, { model: 'p' });
    const harness = new Harness({ models: priced, councils: [council({ skills: [classify] })] });
    const result = await harness.run('C', 'hello');
    expect(result.status).toBe('succeeded');
    expect(result.usage).toMatchObject({ inputTokens: 520, outputTokens: 520, modelCalls: 3 });
    expect(result.usage.costUsd).toBeCloseTo(1.04, 9);
    await harness.stop();
  });

  it('an abort while a council is still being prepared ends the run at once', async () => {
    const base = new Memory({ url: 'memory://' });
    const slow = new Memory({ url: 'memory://' });
    // A backend that takes 3 s to answer its health ping, but honours the signal.
    Object.assign(slow, {
      ping: (options?: { signal?: AbortSignal }) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, 3000);
          options?.signal?.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(options.signal?.reason);
          });
        }),
    });
    const harness = new Harness({
      models: models(),
      memory: base,
      councils: [council({ model: 'sim' }, { memory: slow })],
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('user abort')), 50);
    const started = Date.now();
    const result = await harness.run('C', 'hello', { signal: controller.signal });
    expect(result.status).toBe('aborted');
    expect(Date.now() - started).toBeLessThan(1000);
    await harness.stop();
  });

  it('an aborted skill ends the turn instead of going back to the model', async () => {
    const quitter = new Skill({
      name: 'Quit',
      description: 'gives up',
      input: z.object({}),
      run: () => {
        throw new HarnessError('aborted', 'the skill was cancelled');
      },
    });
    fake.enqueueReply({ toolCalls: [{ name: 'Quit', args: {} }] }, { model: 'p' });
    const harness = new Harness({ models: models(), councils: [council({ skills: [quitter] })] });
    const result = await harness.run('C', 'hello');
    expect(result.status).toBe('aborted');
    expect(fake.counters().total).toBe(1);
    await harness.stop();
  });

  it('an answer cut by the output token limit fails loudly with limit_exceeded', async () => {
    // A provider that stops every answer on its token limit, as a real one does when max_tokens is hit.
    registerProviderType('truncating', {
      create: (): LanguageModelV4 => ({
        specificationVersion: 'v4',
        provider: 'truncating',
        modelId: 't',
        supportedUrls: {},
        doGenerate: () => Promise.reject(new Error('not used')),
        doStream: async () => ({
          stream: new ReadableStream<LanguageModelV4StreamPart>({
            start(controller) {
              controller.enqueue({ type: 'stream-start', warnings: [] });
              controller.enqueue({ type: 'text-start', id: 't' });
              controller.enqueue({ type: 'text-delta', id: 't', delta: 'a long answer that was' });
              controller.enqueue({ type: 'text-end', id: 't' });
              controller.enqueue({
                type: 'finish',
                finishReason: { unified: 'length', raw: 'length' },
                usage: {
                  inputTokens: { total: 5, noCache: 5, cacheRead: 0, cacheWrite: 0 },
                  outputTokens: { total: 5, text: 5, reasoning: 0 },
                },
              });
              controller.close();
            },
          }),
        }),
      }),
    });
    const harness = new Harness({
      models: [{ id: 'cut', type: 'truncating' }],
      councils: [council({ model: 'cut', maxTokens: 5 })],
    });
    // The provider only streams.
    const result = await harness.run('C', 'tell me everything', { stream: true });
    expect(result.error).toMatchObject({
      code: 'limit_exceeded',
      details: { limit: 'max_tokens', value: 5 },
    });
    await harness.stop();
  });

  it('a run given a Council object does not register it or replace the configured one', async () => {
    const harness = new Harness({ models: models(), councils: [council({ model: 'sim' })] });
    const configured = harness.council('C');
    const adHoc = new Council({
      name: 'C',
      memory: 'memory://',
      agents: [new Agent({ name: 'B', model: 'sim' })],
    });
    expect((await harness.run(adHoc, 'hi')).agents[0]?.name).toBe('B');
    expect(harness.council('C')).toBe(configured);
    await harness.stop();
  });
});
