/**
 * The data shapes of the fake provider server: scripted replies, injectable faults, counters and
 * recorded requests, with the zod schemas that validate them when they arrive over the control API
 * (or through {@link FakeProviderServer.injectFault}).
 */
import { z } from 'zod';
import { HarnessError } from '../errors.ts';

/**
 * The vendor family a request was addressed to. `openai-compatible` is the same wire format as
 * `openai` chat, served under its own base URL (`/compat/v1`) so tests can tell the two apart.
 */
export type FakeFamily = 'openai' | 'anthropic' | 'google' | 'openai-compatible';

/** The API a request hit; counters are kept per route. */
export type FakeRoute = 'openai-chat' | 'openai-responses' | 'openai-embeddings' | 'anthropic' | 'google';

/** Every family, in a stable order. */
export const fakeFamilies: readonly FakeFamily[] = ['openai', 'anthropic', 'google', 'openai-compatible'];

/** Every route, in a stable order. */
export const fakeRoutes: readonly FakeRoute[] = [
  'openai-chat',
  'openai-responses',
  'openai-embeddings',
  'anthropic',
  'google',
];

/** Which requests a reply or fault applies to. Every given field must match; an empty match matches all. */
export interface FakeMatch {
  /** Vendor family (see {@link FakeFamily}). */
  provider?: FakeFamily;
  /** Model id exactly as the request names it (Google: the `{model}` path segment). */
  model?: string;
  /** The request's URL path without the query string, e.g. `/v1/messages`. */
  path?: string;
}

/** One scripted answer. Neither `text` nor `toolCalls` → an empty text answer. */
export interface FakeReply {
  text?: string;
  /** Tool calls the model asks for; `args` is sent as the JSON tool input. */
  toolCalls?: Array<{ name: string; args: unknown }>;
  /** Reported token usage; defaults to a rough estimate (characters / 4). */
  usage?: { inputTokens: number; outputTokens: number };
}

/** HTTP statuses a status fault may answer with (529 is Anthropic's "overloaded"). */
export type FaultStatus = 400 | 401 | 403 | 404 | 429 | 500 | 503 | 529;

/** Rate-limit headers added to a status fault, rendered in each vendor's own header names. */
export interface RateLimitHeaderSpec {
  /** Requests allowed per window; default 60. */
  limitRequests?: number;
  /** Requests left; default 0. */
  remainingRequests?: number;
  /** Tokens allowed per window; default 100000. */
  limitTokens?: number;
  /** Tokens left; default 0. */
  remainingTokens?: number;
  /** Seconds until the window resets; default `retryAfterSeconds`, else 1. */
  resetSeconds?: number;
}

/** Fields every fault may carry. */
export interface FaultCommon {
  /** How many matching requests this fault applies to before it is used up; default 1. */
  times?: number;
  /** Which requests it applies to; default all. */
  match?: FakeMatch;
}

/** Answer with an HTTP error in the vendor's own error JSON shape. */
export interface StatusFault extends FaultCommon {
  status: FaultStatus;
  /** Sets `retry-after` (seconds); Google also gets a `RetryInfo` detail. */
  retryAfterSeconds?: number;
  /** `true` for defaults, or explicit values. */
  rateLimitHeaders?: true | RateLimitHeaderSpec;
  /** Error message; defaults to a vendor-like message for the status. */
  message?: string;
}

/** Wait before answering normally. */
export interface LatencyFault extends FaultCommon {
  /** Delay in milliseconds. */
  latencyMs: number;
}

/** Never answer: the request stays open until the client aborts or the server closes. */
export interface HangFault extends FaultCommon {
  hang: true;
}

/** Destroy the socket without answering. */
export interface ResetFault extends FaultCommon {
  reset: true;
}

/**
 * Send N server-sent events, then destroy the socket. On a non-streaming request the status line
 * and half of the JSON body are sent before the socket is destroyed.
 */
export interface CutFault extends FaultCommon {
  cutAfterChunks: number;
}

/** Answer 200 with a body (or the first SSE data line) that is not valid JSON. */
export interface MalformedJsonFault extends FaultCommon {
  malformedJson: true;
}

/** One injectable fault. Faults form a FIFO; the first one matching a request is applied. */
export type FaultSpec = StatusFault | LatencyFault | HangFault | ResetFault | CutFault | MalformedJsonFault;

/** The kind of a fault, as recorded on requests. */
export type FaultKind = 'status' | 'latency' | 'hang' | 'reset' | 'cut' | 'malformed-json';

/** Counters since start or the last reset. Control API calls are not counted. */
export interface FakeCounters {
  /** Requests to a provider route. */
  total: number;
  byRoute: Record<FakeRoute, number>;
  byFamily: Record<FakeFamily, number>;
  /** Keyed by the model id the request named; requests without one are not counted here. */
  byModel: Record<string, number>;
  /** Requests a fault was applied to. */
  faultsServed: number;
}

/** A request as the server saw it, with credentials redacted before it is stored. */
export interface RecordedRequest {
  /** 1-based arrival number since start or reset. */
  seq: number;
  route: FakeRoute;
  family: FakeFamily;
  method: string;
  /** URL path with any `key` query parameter redacted. */
  path: string;
  model: string | undefined;
  stream: boolean;
  /** The parsed JSON body, or `undefined` when it was not valid JSON. */
  body: unknown;
  /** Lower-case header names; `authorization`, `x-api-key`, `x-goog-api-key` (and similar) are `[REDACTED]`. */
  headers: Record<string, string>;
  /** The kind of fault applied to this request, if any. */
  fault: FaultKind | undefined;
  /** Arrival time, epoch milliseconds. */
  receivedAt: number;
}

/** What replaces a secret header value in {@link RecordedRequest.headers}. */
export const redactedValue = '[REDACTED]';

const familySchema = z.enum(['openai', 'anthropic', 'google', 'openai-compatible']);

const matchSchema = z.strictObject({
  provider: familySchema.optional(),
  model: z.string().min(1).optional(),
  path: z.string().startsWith('/').optional(),
});

const usageSchema = z.strictObject({
  inputTokens: z.number().int().min(0),
  outputTokens: z.number().int().min(0),
});

/** A reply plus its optional match, as `POST /_control/replies` accepts it. */
export const replyRequestSchema = z.strictObject({
  text: z.string().optional(),
  toolCalls: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        args: z.unknown().refine((value) => value !== undefined, { message: 'args is required' }),
      }),
    )
    .optional(),
  usage: usageSchema.optional(),
  match: matchSchema.optional(),
});

const rateLimitSchema = z.union([
  z.literal(true),
  z.strictObject({
    limitRequests: z.number().int().min(0).optional(),
    remainingRequests: z.number().int().min(0).optional(),
    limitTokens: z.number().int().min(0).optional(),
    remainingTokens: z.number().int().min(0).optional(),
    resetSeconds: z.number().min(0).optional(),
  }),
]);

const kindFields = ['status', 'latencyMs', 'hang', 'reset', 'cutAfterChunks', 'malformedJson'] as const;

/**
 * One flat object rather than a zod union, so a bad field is reported at its own JSON pointer
 * (`/status`) instead of as "no union member matched" at the root.
 */
export const faultSchema = z
  .strictObject({
    status: z.literal([400, 401, 403, 404, 429, 500, 503, 529]).optional(),
    retryAfterSeconds: z.number().min(0).optional(),
    rateLimitHeaders: rateLimitSchema.optional(),
    message: z.string().optional(),
    latencyMs: z.number().int().min(0).max(600_000).optional(),
    hang: z.literal(true).optional(),
    reset: z.literal(true).optional(),
    cutAfterChunks: z.number().int().min(0).optional(),
    malformedJson: z.literal(true).optional(),
    times: z.number().int().min(1).optional(),
    match: matchSchema.optional(),
  })
  .superRefine((value, ctx) => {
    const kinds = kindFields.filter((field) => value[field] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: kinds.length > 1 ? [kinds[1] as string] : [],
        message:
          kinds.length === 0
            ? `a fault needs exactly one of ${kindFields.join(', ')}`
            : `a fault has exactly one kind, got ${kinds.join(' and ')}`,
      });
    }
    for (const field of ['retryAfterSeconds', 'rateLimitHeaders', 'message'] as const) {
      if (value[field] !== undefined && value.status === undefined) {
        ctx.addIssue({ code: 'custom', path: [field], message: `${field} only applies to a status fault` });
      }
    }
  });

/** RFC 6901 pointer of a zod issue path. */
export function toJsonPointer(path: readonly PropertyKey[]): string {
  return path.map((part) => `/${String(part).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

/** A validation failure with the JSON pointer of the first bad field. */
export interface SpecProblem {
  pointer: string;
  message: string;
}

/** The first issue of a failed parse, as a pointer and a message that names it. */
export function firstProblem(error: z.ZodError): SpecProblem {
  const issue = error.issues[0];
  if (issue === undefined) return { pointer: '', message: 'invalid value' };
  // An unknown key is reported on its parent object; point at the key itself.
  const path =
    issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined
      ? [...issue.path, issue.keys[0]]
      : issue.path;
  const pointer = toJsonPointer(path);
  return { pointer, message: pointer === '' ? issue.message : `at ${pointer}: ${issue.message}` };
}

/** Validates a fault spec; throws `fake_spec_invalid` naming the JSON pointer of the bad field. */
export function parseFaultSpec(input: unknown): FaultSpec {
  const result = faultSchema.safeParse(input);
  if (!result.success) throw specError('fault', result.error);
  return stripUndefined(result.data) as FaultSpec;
}

/** Validates a reply (with optional `match`); throws `fake_spec_invalid` naming the bad field. */
export function parseReplyRequest(input: unknown): { reply: FakeReply; match: FakeMatch | undefined } {
  const result = replyRequestSchema.safeParse(input);
  if (!result.success) throw specError('reply', result.error);
  const { match, ...reply } = stripUndefined(result.data);
  return { reply: reply as FakeReply, match: match as FakeMatch | undefined };
}

function specError(what: 'fault' | 'reply', error: z.ZodError): HarnessError {
  const problem = firstProblem(error);
  const message = `invalid fake provider ${what}${problem.pointer === '' ? ':' : ''} ${problem.message}`;
  // No `location`: the message already names the pointer, and format() would print it twice.
  return new HarnessError('fake_spec_invalid', message, {
    hint:
      what === 'fault'
        ? 'a fault is one of {status}, {latencyMs}, {hang: true}, {reset: true}, {cutAfterChunks}, {malformedJson: true}, plus optional times and match'
        : 'a reply is {text?, toolCalls?: [{name, args}], usage?: {inputTokens, outputTokens}, match?}',
    details: { pointer: problem.pointer },
  });
}

/** zod keeps explicit `undefined` keys; exactOptionalPropertyTypes wants them gone. */
function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** The kind of a validated fault. */
export function faultKind(fault: FaultSpec): FaultKind {
  if ('status' in fault) return 'status';
  if ('latencyMs' in fault) return 'latency';
  if ('hang' in fault) return 'hang';
  if ('reset' in fault) return 'reset';
  if ('cutAfterChunks' in fault) return 'cut';
  return 'malformed-json';
}
