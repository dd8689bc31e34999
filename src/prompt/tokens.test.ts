import type { ModelMessage } from 'ai';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import type { UnifiedPrompt } from './schema.ts';
import { toModelMessages } from './to-model-messages.ts';
import {
  assertFitsContext,
  countTokens,
  IMAGE_TOKENS,
  MESSAGE_OVERHEAD_TOKENS,
  REPLY_PRIMING_TOKENS,
  tokenizerLoaded,
  tokenUpperBound,
} from './tokens.ts';

const seed: UnifiedPrompt = {
  role: 'user',
  content: [
    { type: 'system', value: 'You are a support agent.' },
    { type: 'user', value: 'Where is my order #12345?' },
  ],
};

describe('countTokens', () => {
  it('counts plain text with o200k_base', () => {
    // Reference counts of the o200k_base encoding (tiktoken): "hello world" = [24912, 2375].
    expect(countTokens('hello world')).toBe(2);
    expect(countTokens('')).toBe(0);
    expect(countTokens('You are a support agent.')).toBe(6);
    expect(countTokens('Where is my order #12345?')).toBe(8);
    expect(countTokens('The quick brown fox jumps over the lazy dog.')).toBe(10);
    expect(tokenizerLoaded()).toBe(true);
  });

  it('counts text that looks like a special token as ordinary text instead of throwing', () => {
    expect(countTokens('<|endoftext|>')).toBeGreaterThan(1);
  });

  it('adds the per-message overhead and the reply priming to message lists', () => {
    const messages: ModelMessage[] = [{ role: 'user', content: 'hello world' }];
    expect(countTokens(messages)).toBe(2 + MESSAGE_OVERHEAD_TOKENS + REPLY_PRIMING_TOKENS);
    expect(countTokens({ role: 'user', content: 'hello world' })).toBe(
      2 + MESSAGE_OVERHEAD_TOKENS + REPLY_PRIMING_TOKENS,
    );
    expect(countTokens([])).toBe(0);
  });

  it('counts the seed example as system + user message', () => {
    // 6 + 8 tokens of text, the system prompt and the user message each with overhead, plus priming.
    expect(countTokens(seed)).toBe(6 + 8 + 2 * MESSAGE_OVERHEAD_TOKENS + REPLY_PRIMING_TOKENS);
  });

  it('counts a unified prompt, its converted form and its messages the same way', () => {
    const converted = toModelMessages(seed);
    expect(countTokens(converted)).toBe(countTokens(seed));
    expect(countTokens(converted.messages)).toBe(countTokens(seed) - 6 - MESSAGE_OVERHEAD_TOKENS);
  });

  it('counts a fixed estimate per image', () => {
    const withImage: UnifiedPrompt = {
      role: 'user',
      content: [
        { type: 'user', value: 'hello world' },
        { type: 'image', value: 'https://example.com/a.png' },
        { type: 'image', value: 'data:image/png;base64,iVBORw0KGgo=' },
      ],
    };
    expect(countTokens(withImage)).toBe(
      2 + 2 * IMAGE_TOKENS + MESSAGE_OVERHEAD_TOKENS + REPLY_PRIMING_TOKENS,
    );
  });

  it('counts tool calls by name and JSON arguments, tool results by name and value', () => {
    const prompt: UnifiedPrompt = [
      {
        role: 'assistant',
        content: [{ type: 'tool_call', id: 'c1', name: 'lookup_order', args: { order_id: '12345' } }],
      },
      {
        role: 'tool',
        content: [{ type: 'tool_result', tool_call_id: 'c1', name: 'lookup_order', value: 'hello world' }],
      },
    ];
    const name = countTokens('lookup_order');
    const args = countTokens('{"order_id":"12345"}');
    expect(countTokens(prompt)).toBe(
      name + args + name + 2 + 2 * MESSAGE_OVERHEAD_TOKENS + REPLY_PRIMING_TOKENS,
    );
  });
});

describe('tokenUpperBound', () => {
  it('is the UTF-8 byte count of the text plus the same overheads', () => {
    expect(tokenUpperBound('hello world')).toBe(11);
    expect(tokenUpperBound('世界')).toBe(6);
    expect(tokenUpperBound(seed)).toBe(
      Buffer.byteLength('You are a support agent.') +
        Buffer.byteLength('Where is my order #12345?') +
        2 * MESSAGE_OVERHEAD_TOKENS +
        REPLY_PRIMING_TOKENS,
    );
  });

  it('is never below the exact count (random Unicode text and prompts)', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 200 });
    const part = fc.oneof(
      fc.record({ type: fc.constantFrom('system', 'user', 'assistant', 'text'), value: text }),
      fc.record({
        type: fc.constant('tool_call'),
        id: fc.constant('c'),
        name: text,
        args: fc.dictionary(fc.string(), fc.jsonValue()),
      }),
      fc.record({
        type: fc.constant('tool_result'),
        tool_call_id: fc.constant('c'),
        name: text,
        value: fc.jsonValue(),
      }),
    );
    const message = fc.record({
      role: fc.constantFrom('system', 'user', 'assistant', 'tool'),
      content: fc.oneof(text, fc.array(part, { minLength: 1, maxLength: 5 })),
    });
    const input = fc.oneof(
      text,
      fc.array(message, { minLength: 1, maxLength: 4 }),
    ) as fc.Arbitrary<UnifiedPrompt>;
    fc.assert(
      fc.property(input, (prompt) => {
        expect(tokenUpperBound(prompt)).toBeGreaterThanOrEqual(countTokens(prompt));
      }),
      { seed: 20_240_601, numRuns: 500 },
    );
  });
});

describe('assertFitsContext (tokenizer already loaded)', () => {
  it('throws context_too_long with the details and the hint', () => {
    const prompt = 'hello '.repeat(1000);
    const count = countTokens([{ role: 'user', content: prompt }]);
    let caught: unknown;
    try {
      assertFitsContext({ model: 'gpt-4o', contextWindow: count + 100, maxOutputTokens: 4096, prompt });
    } catch (error) {
      caught = error;
    }
    expect(HarnessError.isInstance(caught)).toBe(true);
    const error = caught as HarnessError;
    expect(error.code).toBe('context_too_long');
    expect(error.details).toEqual({ model: 'gpt-4o', limit: count + 100, count, maxOutputTokens: 4096 });
    expect(error.message).toBe(
      `prompt needs ${count + 4096} tokens (${count} prompt + 4096 reserved for output) but gpt-4o accepts ${count + 100}`,
    );
    expect(error.hint).toBe(
      'shorten the prompt, lower max_tokens, or use a model with a larger context_window',
    );
    expect(error.isRetryable).toBe(false);
  });

  it('accepts a prompt that fits exactly', () => {
    const prompt = 'hello '.repeat(1000);
    const count = countTokens([{ role: 'user', content: prompt }]);
    expect(() =>
      assertFitsContext({ model: 'm', contextWindow: count + 10, maxOutputTokens: 10, prompt }),
    ).not.toThrow();
    expect(() =>
      assertFitsContext({ model: 'm', contextWindow: count + 9, maxOutputTokens: 10, prompt }),
    ).toThrow(/prompt needs/);
  });

  it('leaves maxOutputTokens out of the message when none is reserved', () => {
    expect(() =>
      assertFitsContext({ model: 'tiny', contextWindow: 5, prompt: 'hello world, how are you today?' }),
    ).toThrow(/^prompt needs \d+ tokens but tiny accepts 5$/);
  });
});
