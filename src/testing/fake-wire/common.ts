/**
 * What every wire format of the fake provider server shares: the parsed view of a request, the
 * resolved reply it renders, server-sent events, and small deterministic helpers.
 */
import type { FakeFamily, FaultStatus, RateLimitHeaderSpec } from '../fake-provider-spec.ts';

/** What the server needs to know about an incoming request, whatever its wire format. */
export interface ParsedRequest {
  /** Model id named by the request (body or path). */
  model: string | undefined;
  /** True when the client asked for server-sent events. */
  stream: boolean;
  /** Text of the last user message that has text (tool results are skipped). */
  lastUserText: string;
  /** Rough size of the prompt, in characters, for the default usage estimate. */
  promptChars: number;
  /** OpenAI chat only: `stream_options.include_usage`. */
  includeUsage: boolean;
}

/** A tool call with its ids assigned, ready to render. */
export interface ResolvedToolCall {
  /** Id the client echoes back with the result (`call_…`, `toolu_…`). */
  id: string;
  name: string;
  args: unknown;
  /** `args` as JSON text. */
  argsJson: string;
}

/** A reply with defaults applied, as every wire format renders it. */
export interface ResolvedReply {
  text: string;
  toolCalls: ResolvedToolCall[];
  usage: { inputTokens: number; outputTokens: number };
}

/** Everything a renderer needs for one answer. */
export interface RenderContext {
  reply: ResolvedReply;
  /** Model id to echo back. */
  model: string;
  /** Request number, used to make ids unique and deterministic. */
  seq: number;
  /** Unix time in seconds. */
  created: number;
  includeUsage: boolean;
}

/** One server-sent event. `data` is the exact text after `data: `. */
export interface SseEvent {
  event?: string;
  data: string;
}

/** How a wire format reads requests and writes answers and errors. */
export interface WireFormat {
  parse(body: unknown, path: string): ParsedRequest;
  /** The non-streaming JSON answer. */
  json(context: RenderContext): unknown;
  /** The streamed answer, terminal marker (e.g. `[DONE]`) included. */
  events(context: RenderContext): SseEvent[];
  /** The vendor's error body for a status. */
  errorBody(status: FaultStatus | number, message: string | undefined, retryAfterSeconds?: number): unknown;
}

/** Splits text into stream deltas of about one word each (whitespace stays with the word before). */
export function splitDeltas(text: string): string[] {
  if (text === '') return [];
  return text.match(/\S+\s*|\s+/g) ?? [text];
}

/** Splits JSON text into a few argument deltas, as vendors stream tool input. */
export function splitArgs(json: string): string[] {
  const size = Math.max(1, Math.ceil(json.length / 3));
  const pieces: string[] = [];
  for (let i = 0; i < json.length; i += size) pieces.push(json.slice(i, i + size));
  return pieces.length === 0 ? [''] : pieces;
}

/** Rough token count: 4 characters per token, rounded up. */
export function estimateTokens(chars: number): number {
  return Math.ceil(chars / 4);
}

/** Text of a message content that is a string or an array of text-bearing parts. */
export function textOf(content: unknown, textTypes: readonly string[] = ['text']): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) => {
      if (!isRecord(part)) return '';
      if (
        typeof part.text === 'string' &&
        (part.type === undefined || textTypes.includes(String(part.type)))
      ) {
        return part.text;
      }
      return '';
    })
    .join('');
}

/** The last message with `role` among `roles` whose text is not empty. */
export function lastText(
  messages: unknown,
  roles: readonly string[],
  contentKey: string,
  textTypes?: readonly string[],
): string {
  if (!Array.isArray(messages)) return typeof messages === 'string' ? messages : '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (!isRecord(message) || !roles.includes(String(message.role))) continue;
    const text = textOf(message[contentKey], textTypes);
    if (text !== '') return text;
  }
  return '';
}

/** A plain JSON object (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON with its second half cut off: a body no JSON parser accepts. */
export function malform(json: string): string {
  return json.slice(0, Math.max(1, Math.floor(json.length / 2)));
}

/** Rate-limit headers in the vendor's own names (Google sends none; it uses `RetryInfo` instead). */
export function rateLimitHeaders(
  family: FakeFamily,
  spec: true | RateLimitHeaderSpec,
  retryAfterSeconds: number | undefined,
  now: number,
): Record<string, string> {
  const values = spec === true ? {} : spec;
  const limitRequests = values.limitRequests ?? 60;
  const remainingRequests = values.remainingRequests ?? 0;
  const limitTokens = values.limitTokens ?? 100_000;
  const remainingTokens = values.remainingTokens ?? 0;
  const resetSeconds = values.resetSeconds ?? retryAfterSeconds ?? 1;
  if (family === 'anthropic') {
    const reset = new Date(now + resetSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return {
      'anthropic-ratelimit-requests-limit': String(limitRequests),
      'anthropic-ratelimit-requests-remaining': String(remainingRequests),
      'anthropic-ratelimit-requests-reset': reset,
      'anthropic-ratelimit-tokens-limit': String(limitTokens),
      'anthropic-ratelimit-tokens-remaining': String(remainingTokens),
      'anthropic-ratelimit-tokens-reset': reset,
    };
  }
  if (family === 'google') return {};
  return {
    'x-ratelimit-limit-requests': String(limitRequests),
    'x-ratelimit-remaining-requests': String(remainingRequests),
    'x-ratelimit-reset-requests': `${resetSeconds}s`,
    'x-ratelimit-limit-tokens': String(limitTokens),
    'x-ratelimit-remaining-tokens': String(remainingTokens),
    'x-ratelimit-reset-tokens': `${resetSeconds}s`,
  };
}

/** A short, deterministic id suffix from a request number and an index. */
export function fakeId(prefix: string, seq: number, index = 0): string {
  return `${prefix}fake${seq.toString(36).padStart(4, '0')}${index.toString(36)}`;
}
