import { describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { faultKind, parseFaultSpec, parseReplyRequest, toJsonPointer } from './fake-provider-spec.ts';

function problem(run: () => unknown): { pointer: unknown; message: string } {
  try {
    run();
  } catch (error) {
    if (!HarnessError.isInstance(error)) throw error;
    expect(error.code).toBe('fake_spec_invalid');
    return { pointer: error.details.pointer, message: error.message };
  }
  throw new Error('expected a fake_spec_invalid error');
}

describe('fake provider specs', () => {
  it('accepts every fault kind and names it', () => {
    expect(faultKind(parseFaultSpec({ status: 429, retryAfterSeconds: 2, rateLimitHeaders: true }))).toBe(
      'status',
    );
    expect(faultKind(parseFaultSpec({ latencyMs: 10, times: 3 }))).toBe('latency');
    expect(faultKind(parseFaultSpec({ hang: true, match: { provider: 'google' } }))).toBe('hang');
    expect(faultKind(parseFaultSpec({ reset: true }))).toBe('reset');
    expect(faultKind(parseFaultSpec({ cutAfterChunks: 0 }))).toBe('cut');
    expect(faultKind(parseFaultSpec({ malformedJson: true, match: { path: '/v1/messages' } }))).toBe(
      'malformed-json',
    );
  });

  it('points at the bad field of a fault', () => {
    expect(problem(() => parseFaultSpec({ status: 418 }))).toMatchObject({ pointer: '/status' });
    expect(problem(() => parseFaultSpec({ latencyMs: 5, times: 0 }))).toMatchObject({ pointer: '/times' });
    expect(problem(() => parseFaultSpec({ reset: true, match: { model: 'm', region: 'eu' } }))).toMatchObject(
      {
        pointer: '/match/region',
      },
    );
    expect(problem(() => parseFaultSpec({ hang: true, message: 'x' }))).toMatchObject({
      pointer: '/message',
    });
    const none = problem(() => parseFaultSpec({ times: 2 }));
    expect(none.pointer).toBe('');
    expect(none.message).toContain('exactly one of status, latencyMs');
  });

  it('splits a reply from its match and points at bad reply fields', () => {
    expect(parseReplyRequest({ text: 'hi', match: { model: 'm' } })).toEqual({
      reply: { text: 'hi' },
      match: { model: 'm' },
    });
    expect(problem(() => parseReplyRequest({ usage: { inputTokens: 1 } }))).toMatchObject({
      pointer: '/usage/outputTokens',
    });
  });

  it('escapes ~ and / in JSON pointers (RFC 6901)', () => {
    expect(toJsonPointer(['a/b', 'c~d', 0])).toBe('/a~1b/c~0d/0');
    expect(toJsonPointer([])).toBe('');
  });
});
