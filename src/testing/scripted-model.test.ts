import { APICallError, type LanguageModelV4StreamPart } from '@ai-sdk/provider';
import { generateText, isStepCount, streamText, tool } from 'ai';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { HarnessError } from '../errors.ts';
import { ScriptedModel } from './scripted-model.ts';

const userPrompt = [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'hello there' }] }];

afterEach(() => {
  vi.useRealTimers();
});

describe('ScriptedModel', () => {
  it('answers scripted text through generateText, with computed usage', async () => {
    const model = new ScriptedModel({ steps: [{ text: 'the answer is 42' }] });
    const result = await generateText({ model, prompt: 'what is the answer?' });
    expect(result.text).toBe('the answer is 42');
    expect(result.finishReason).toBe('stop');
    // 'what is the answer?' is 19 chars → 5 tokens; the 16-char answer → 4 tokens.
    expect(result.usage.inputTokens).toBe(5);
    expect(result.usage.outputTokens).toBe(4);
    expect(model.calls).toHaveLength(1);
    expect(model.calls[0]?.prompt.at(-1)).toMatchObject({ role: 'user' });
  });

  it('reports scripted usage instead of the estimate', async () => {
    const model = new ScriptedModel({ steps: [{ text: 'x', usage: { inputTokens: 100, outputTokens: 7 } }] });
    const result = await generateText({ model, prompt: 'p' });
    expect(result.usage).toMatchObject({ inputTokens: 100, outputTokens: 7, totalTokens: 107 });
  });

  it('drives a multi-step tool loop with a real tool()', async () => {
    const add = tool({
      description: 'adds two numbers',
      inputSchema: z.object({ a: z.number(), b: z.number() }),
      execute: async ({ a, b }) => ({ sum: a + b }),
    });
    const model = new ScriptedModel({
      steps: [
        { toolCalls: [{ toolName: 'add', input: { a: 2, b: 3 }, toolCallId: 'c1' }] },
        { text: 'the sum is 5' },
      ],
    });
    const result = await generateText({
      model,
      tools: { add },
      prompt: 'add 2 and 3',
      stopWhen: isStepCount(5),
    });
    expect(result.text).toBe('the sum is 5');
    expect(result.steps).toHaveLength(2);
    expect(result.steps[0]?.toolResults[0]).toMatchObject({ toolCallId: 'c1', output: { sum: 5 } });
    // The second call sees the tool result the first call asked for.
    const toolMessage = model.calls[1]?.prompt.find((message) => message.role === 'tool');
    expect(toolMessage?.content[0]).toMatchObject({
      type: 'tool-result',
      toolCallId: 'c1',
      output: { type: 'json', value: { sum: 5 } },
    });
    expect(model.calls[0]?.tools?.[0]).toMatchObject({ type: 'function', name: 'add' });
  });

  it('streams text deltas through streamText, and doGenerate joins them', async () => {
    const model = new ScriptedModel({ steps: [{ stream: ['Hel', 'lo', ' world'] }], loop: true });
    const result = streamText({ model, prompt: 'hi' });
    const deltas: string[] = [];
    for await (const delta of result.textStream) deltas.push(delta);
    expect(deltas).toEqual(['Hel', 'lo', ' world']);
    expect(await result.finishReason).toBe('stop');
    const joined = await model.doGenerate({ prompt: userPrompt });
    expect(joined.content).toEqual([{ type: 'text', text: 'Hello world' }]);
  });

  it('streams tool calls as input parts and a tool-call part', async () => {
    const model = new ScriptedModel({ steps: [{ toolCalls: [{ toolName: 'lookup', input: { q: 'x' } }] }] });
    const { stream } = await model.doStream({ prompt: userPrompt });
    const parts: LanguageModelV4StreamPart[] = [];
    for await (const part of stream) parts.push(part);
    expect(parts.map((part) => part.type)).toEqual([
      'stream-start',
      'response-metadata',
      'tool-input-start',
      'tool-input-delta',
      'tool-input-end',
      'tool-call',
      'finish',
    ]);
    expect(parts[5]).toEqual({
      type: 'tool-call',
      toolCallId: 'call-1-0',
      toolName: 'lookup',
      input: '{"q":"x"}',
    });
    expect(parts[6]).toMatchObject({ finishReason: { unified: 'tool-calls' } });
  });

  it('throws a scripted APICallError from generateText without retrying it when maxRetries is 0', async () => {
    const error = new APICallError({
      message: 'rate limited',
      url: 'https://example.test/v1/chat',
      requestBodyValues: {},
      statusCode: 429,
      responseHeaders: { 'retry-after': '3' },
    });
    const model = new ScriptedModel({ steps: [{ error }] });
    await expect(generateText({ model, prompt: 'p', maxRetries: 0 })).rejects.toBe(error);
    await expect(model.doStream({ prompt: userPrompt })).rejects.toMatchObject({ code: 'script_exhausted' });
  });

  it('emits some chunks and then an error part for streamError', async () => {
    const boom = new Error('connection reset mid-stream');
    const model = new ScriptedModel({
      steps: [{ stream: ['a', 'b', 'c', 'd'], afterChunks: 2, streamError: boom }],
    });
    const errors: unknown[] = [];
    const result = streamText({ model, prompt: 'p', onError: ({ error }) => void errors.push(error) });
    const deltas: string[] = [];
    for await (const part of result.fullStream) if (part.type === 'text-delta') deltas.push(part.text);
    expect(deltas).toEqual(['a', 'b']);
    expect(errors).toEqual([boom]);
  });

  it('throws script_exhausted with the call number, or repeats the last step with loop', async () => {
    const strict = new ScriptedModel({ steps: [{ text: 'one' }] });
    await strict.doGenerate({ prompt: userPrompt });
    const failure = await strict.doGenerate({ prompt: userPrompt }).catch((error: unknown) => error);
    expect(HarnessError.isInstance(failure)).toBe(true);
    expect(failure).toMatchObject({ code: 'script_exhausted', details: { callNumber: 2, steps: 1 } });
    expect((failure as Error).message).toContain('at call 2');

    const looping = new ScriptedModel({ steps: [{ text: 'one' }, { text: 'again' }], loop: true });
    const texts: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { content } = await looping.doGenerate({ prompt: userPrompt });
      texts.push(content[0]?.type === 'text' ? content[0].text : '');
    }
    expect(texts).toEqual(['one', 'again', 'again', 'again']);
    expect(looping.remaining).toBe(0);
  });

  it('rejects with the abort reason during delayMs and leaves no timer behind', async () => {
    vi.useFakeTimers();
    const model = new ScriptedModel({ steps: [{ text: 'late' }], delayMs: 60_000 });
    const controller = new AbortController();
    const pending = model.doGenerate({ prompt: userPrompt, abortSignal: controller.signal });
    expect(vi.getTimerCount()).toBe(1);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('answers after delayMs elapses', async () => {
    vi.useFakeTimers();
    const model = new ScriptedModel({ steps: [{ text: 'on time' }], delayMs: 250 });
    let settled = false;
    const pending = model.doGenerate({ prompt: userPrompt }).then((result) => {
      settled = true;
      return result;
    });
    await vi.advanceTimersByTimeAsync(249);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect((await pending).content).toEqual([{ type: 'text', text: 'on time' }]);
  });

  it('ends a paced stream with the abort reason when aborted between chunks', async () => {
    vi.useFakeTimers();
    const model = new ScriptedModel({ steps: [{ stream: ['a', 'b', 'c'], chunkDelayMs: 1_000 }] });
    const controller = new AbortController();
    const { stream } = await model.doStream({ prompt: userPrompt, abortSignal: controller.signal });
    const reader = stream.getReader();
    const seen: string[] = [];
    for (;;) {
      const { value } = await reader.read();
      seen.push(value?.type ?? 'done');
      if (value?.type === 'text-delta') break;
    }
    const next = reader.read();
    controller.abort(new Error('stop'));
    await expect(next).rejects.toThrow('stop');
    expect(seen).toEqual(['stream-start', 'response-metadata', 'text-start', 'text-delta']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('is aborted through generateText as well', async () => {
    const model = new ScriptedModel({ steps: [{ text: 'never' }], delayMs: 5_000 });
    const controller = new AbortController();
    const started = Date.now();
    const pending = generateText({ model, prompt: 'p', abortSignal: controller.signal, maxRetries: 0 });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
