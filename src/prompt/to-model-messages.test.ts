import type { LanguageModelV4CallOptions, LanguageModelV4GenerateResult } from '@ai-sdk/provider';
import { generateText, type ModelMessage, modelMessageSchema } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { describe, expect, it } from 'vitest';
import { parsePrompt } from './parse.ts';
import type { UnifiedPrompt } from './schema.ts';
import { type ModelPrompt, toModelMessages } from './to-model-messages.ts';

const PNG_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

const reply: LanguageModelV4GenerateResult = {
  content: [{ type: 'text', text: 'ok' }],
  finishReason: { unified: 'stop', raw: 'stop' },
  usage: {
    inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
    outputTokens: { total: 1, text: 1, reasoning: 0 },
  },
  warnings: [],
};

/**
 * Sends a converted prompt through the real `generateText` to a mock model and returns what the
 * model received. The mock claims https image URLs, so nothing is downloaded.
 */
async function received(prompt: ModelPrompt): Promise<LanguageModelV4CallOptions['prompt']> {
  const model = new MockLanguageModelV4({
    supportedUrls: { 'image/*': [/^https?:\/\//] },
    doGenerate: reply,
  });
  const result = await generateText({
    model,
    ...(prompt.system === undefined ? {} : { instructions: prompt.system }),
    messages: prompt.messages,
  });
  expect(result.text).toBe('ok');
  expect(model.doGenerateCalls).toHaveLength(1);
  return model.doGenerateCalls[0]?.prompt ?? [];
}

/** Every message must satisfy the AI SDK's own schema. */
function expectValidMessages(messages: readonly ModelMessage[]): void {
  for (const message of messages) expect(modelMessageSchema.safeParse(message).success).toBe(true);
}

describe('toModelMessages', () => {
  it('converts the seed example: system part to system, user part to a user message', async () => {
    const seed = parsePrompt({
      role: 'user',
      content: [
        { type: 'system', value: 'You are a support agent.' },
        { type: 'user', value: 'Where is my order #12345?' },
      ],
    });
    const converted = toModelMessages(seed);
    expect(converted).toEqual({
      system: 'You are a support agent.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Where is my order #12345?' }] }],
    });
    expectValidMessages(converted.messages);
    expect(await received(converted)).toEqual([
      { role: 'system', content: 'You are a support agent.' },
      { role: 'user', content: [{ type: 'text', text: 'Where is my order #12345?' }] },
    ]);
  });

  it('turns a plain string into one user message and no system prompt', () => {
    expect(toModelMessages('hello')).toEqual({
      system: undefined,
      messages: [{ role: 'user', content: 'hello' }],
    });
  });

  it('keeps a multi-message conversation in order and gathers system text from anywhere', async () => {
    const prompt: UnifiedPrompt = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: [{ type: 'text', value: 'Hello!' }] },
      {
        role: 'user',
        content: [
          { type: 'system', value: 'Answer in French.' },
          { type: 'text', value: 'How are you?' },
        ],
      },
      { role: 'system', content: [{ type: 'text', value: 'Never apologise.' }] },
    ];
    const converted = toModelMessages(prompt);
    expect(converted).toEqual({
      system: 'Be brief.\n\nAnswer in French.\n\nNever apologise.',
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: [{ type: 'text', text: 'Hello!' }] },
        { role: 'user', content: [{ type: 'text', text: 'How are you?' }] },
      ],
    });
    expectValidMessages(converted.messages);
    const sent = await received(converted);
    expect(sent.map((message) => message.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(sent[0]).toEqual({
      role: 'system',
      content: 'Be brief.\n\nAnswer in French.\n\nNever apologise.',
    });
  });

  it('splits adjacent parts of different roles into separate messages, in order', () => {
    const converted = toModelMessages({
      role: 'user',
      content: [
        { type: 'user', value: 'What is 2+2?' },
        { type: 'assistant', value: '4' },
        { type: 'assistant', value: 'Anything else?' },
        { type: 'system', value: 'Stay on topic.' },
        { type: 'user', value: 'No.' },
        { type: 'text', value: 'Thanks.' },
      ],
    });
    expect(converted).toEqual({
      system: 'Stay on topic.',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'What is 2+2?' }] },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: '4' },
            { type: 'text', text: 'Anything else?' },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'No.' },
            { type: 'text', text: 'Thanks.' },
          ],
        },
      ],
    });
  });

  it('never merges separate input messages of the same role', () => {
    const converted = toModelMessages([
      { role: 'user', content: 'a' },
      { role: 'user', content: [{ type: 'user', value: 'b' }] },
    ]);
    expect(converted.messages).toHaveLength(2);
  });

  it('gives user and assistant parts their own role whatever the enclosing role', () => {
    const converted = toModelMessages({
      role: 'assistant',
      content: [
        { type: 'text', value: 'I said this.' },
        { type: 'user', value: 'The user said this.' },
      ],
    });
    expect(converted.messages).toEqual([
      { role: 'assistant', content: [{ type: 'text', text: 'I said this.' }] },
      { role: 'user', content: [{ type: 'text', text: 'The user said this.' }] },
    ]);
  });

  it('converts images given as URL, data URL and base64 into file parts the model receives', async () => {
    const converted = toModelMessages(
      parsePrompt({
        role: 'user',
        content: [
          { type: 'user', value: 'Compare these.' },
          { type: 'image', value: 'https://example.com/cat.png' },
          { type: 'image', value: 'https://example.com/dog', media_type: 'image/webp' },
          { type: 'image', value: `data:image/png;base64,${PNG_BASE64}` },
          { type: 'image', value: PNG_BASE64, media_type: 'image/png' },
        ],
      }),
    );
    expect(converted.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Compare these.' },
          {
            type: 'file',
            mediaType: 'image',
            data: { type: 'url', url: new URL('https://example.com/cat.png') },
          },
          {
            type: 'file',
            mediaType: 'image/webp',
            data: { type: 'url', url: new URL('https://example.com/dog') },
          },
          { type: 'file', mediaType: 'image/png', data: { type: 'data', data: PNG_BASE64 } },
          { type: 'file', mediaType: 'image/png', data: { type: 'data', data: PNG_BASE64 } },
        ],
      },
    ]);
    expectValidMessages(converted.messages);

    const sent = await received(converted);
    const user = sent[0];
    expect(user?.role).toBe('user');
    const parts = user?.role === 'user' ? user.content : [];
    expect(parts.map((part) => part.type)).toEqual(['text', 'file', 'file', 'file', 'file']);
    const files = parts.flatMap((part) => (part.type === 'file' ? [part] : []));
    expect(files[0]?.data).toEqual({ type: 'url', url: new URL('https://example.com/cat.png') });
    expect(files[1]).toMatchObject({ mediaType: 'image/webp' });
    // The SDK sniffs the bytes of inline data, so both inline images arrive as PNG data.
    for (const file of files.slice(2)) {
      expect(file.mediaType).toBe('image/png');
      expect(file.data.type).toBe('data');
    }
  });

  it('puts an image in an assistant message into that assistant message', () => {
    const converted = toModelMessages({
      role: 'assistant',
      content: [{ type: 'image', value: PNG_BASE64, media_type: 'image/png' }],
    });
    expect(converted.messages).toEqual([
      {
        role: 'assistant',
        content: [{ type: 'file', mediaType: 'image/png', data: { type: 'data', data: PNG_BASE64 } }],
      },
    ]);
  });

  it('round-trips a tool call and its result through generateText', async () => {
    const prompt = parsePrompt([
      { role: 'user', content: 'Where is order 12345?' },
      {
        role: 'assistant',
        content: [
          { type: 'assistant', value: 'Let me check.' },
          { type: 'tool_call', id: 'call_1', name: 'lookup_order', args: { order_id: '12345' } },
          { type: 'tool_call', id: 'call_2', name: 'lookup_carrier', args: {} },
        ],
      },
      {
        role: 'tool',
        content: [
          { type: 'tool_result', tool_call_id: 'call_1', name: 'lookup_order', value: { status: 'shipped' } },
          { type: 'tool_result', tool_call_id: 'call_2', name: 'lookup_carrier', value: 'DHL' },
        ],
      },
    ]);
    const converted = toModelMessages(prompt);
    expect(converted.messages).toEqual([
      { role: 'user', content: 'Where is order 12345?' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Let me check.' },
          { type: 'tool-call', toolCallId: 'call_1', toolName: 'lookup_order', input: { order_id: '12345' } },
          { type: 'tool-call', toolCallId: 'call_2', toolName: 'lookup_carrier', input: {} },
        ],
      },
      {
        role: 'tool',
        content: [
          {
            type: 'tool-result',
            toolCallId: 'call_1',
            toolName: 'lookup_order',
            output: { type: 'json', value: { status: 'shipped' } },
          },
          {
            type: 'tool-result',
            toolCallId: 'call_2',
            toolName: 'lookup_carrier',
            output: { type: 'text', value: 'DHL' },
          },
        ],
      },
    ]);
    expectValidMessages(converted.messages);

    const sent = await received(converted);
    expect(sent.map((message) => message.role)).toEqual(['user', 'assistant', 'tool']);
    expect(sent[1]).toMatchObject({
      role: 'assistant',
      content: [
        { type: 'text', text: 'Let me check.' },
        { type: 'tool-call', toolCallId: 'call_1', toolName: 'lookup_order', input: { order_id: '12345' } },
        { type: 'tool-call', toolCallId: 'call_2', toolName: 'lookup_carrier', input: {} },
      ],
    });
    expect(sent[2]).toMatchObject({
      role: 'tool',
      content: [
        { type: 'tool-result', toolCallId: 'call_1', output: { type: 'json', value: { status: 'shipped' } } },
        { type: 'tool-result', toolCallId: 'call_2', output: { type: 'text', value: 'DHL' } },
      ],
    });
  });

  it('moves tool calls written inside a user message into an assistant message', () => {
    const converted = toModelMessages({
      role: 'user',
      content: [
        { type: 'user', value: 'q' },
        { type: 'tool_call', id: 'c', name: 'f', args: { x: 1 } },
        { type: 'tool_result', tool_call_id: 'c', name: 'f', value: null },
        { type: 'assistant', value: 'done' },
      ],
    });
    expect(converted.messages.map((message) => message.role)).toEqual([
      'user',
      'assistant',
      'tool',
      'assistant',
    ]);
    expectValidMessages(converted.messages);
  });

  it('returns no messages for a prompt of system text only', () => {
    expect(toModelMessages({ role: 'system', content: 'You are terse.' })).toEqual({
      system: 'You are terse.',
      messages: [],
    });
  });

  it('maps shapes the parser rejects leniently instead of throwing', () => {
    const converted = toModelMessages([
      { role: 'tool', content: 'stray text' },
      { role: 'system', content: [{ type: 'image', value: 'https://example.com/a.png' }] },
    ]);
    expect(converted.messages.map((message) => message.role)).toEqual(['user', 'user']);
    expectValidMessages(converted.messages);
  });
});
