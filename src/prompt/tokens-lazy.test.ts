/**
 * The tokenizer is loaded lazily. Vitest gives each test file a fresh module graph, and the tests
 * of this file run in order, so the first test sees a process where nothing has counted yet.
 */
import { describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { assertFitsContext, tokenizerLoaded, tokenUpperBound } from './tokens.ts';

describe('assertFitsContext and the lazy tokenizer', () => {
  it('takes the fast path without loading the tokenizer', () => {
    expect(tokenizerLoaded()).toBe(false);
    const prompt = {
      role: 'user' as const,
      content: [
        { type: 'system' as const, value: 'You are a support agent.' },
        { type: 'user' as const, value: 'Where is my order #12345?' },
      ],
    };
    assertFitsContext({ model: 'gpt-4o', contextWindow: undefined, prompt });
    assertFitsContext({ model: 'gpt-4o', contextWindow: 128_000, maxOutputTokens: 4096, prompt });
    assertFitsContext({ model: 'gpt-4o', contextWindow: 128_000, prompt: 'x'.repeat(100_000) });
    // A huge prompt with no known window is not checked at all.
    assertFitsContext({ model: 'unknown', contextWindow: undefined, prompt: 'x'.repeat(1_000_000) });
    expect(tokenUpperBound(prompt)).toBeGreaterThan(0);
    expect(tokenizerLoaded()).toBe(false);
  });

  it('loads the tokenizer only when the bound does not fit, and then counts exactly', () => {
    // 6000 bytes but 1000 tokens: the bound says no, the exact count says yes.
    const prompt = 'hello '.repeat(1000);
    expect(tokenUpperBound([{ role: 'user', content: prompt }])).toBeGreaterThan(2000);
    assertFitsContext({ model: 'small', contextWindow: 2000, prompt });
    expect(tokenizerLoaded()).toBe(true);
  });

  it('throws context_too_long from the slow path with model, limit, count and maxOutputTokens', () => {
    const prompt = 'hello '.repeat(1000);
    let caught: unknown;
    try {
      assertFitsContext({ model: 'small', contextWindow: 2000, maxOutputTokens: 1500, prompt });
    } catch (error) {
      caught = error;
    }
    expect(HarnessError.isInstance(caught)).toBe(true);
    const error = caught as HarnessError;
    expect(error.code).toBe('context_too_long');
    const count = error.details.count as number;
    // 1000 words ("hello" + 999 × " hello" + " "), one message overhead, the reply priming.
    expect(count).toBeGreaterThan(1000);
    expect(count).toBeLessThan(1020);
    expect(error.details).toEqual({ model: 'small', limit: 2000, count, maxOutputTokens: 1500 });
    expect(error.message).toBe(
      `prompt needs ${count + 1500} tokens (${count} prompt + 1500 reserved for output) but small accepts 2000`,
    );
  });
});
