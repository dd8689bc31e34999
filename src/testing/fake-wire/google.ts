/**
 * Google Gemini (`POST /v1beta/models/{model}:generateContent` and
 * `:streamGenerateContent?alt=sse`). Answers are `candidates[].content.parts` (`text`,
 * `functionCall`) with `finishReason` and `usageMetadata`; a stream is a series of such
 * responses, the last one carrying the finish reason and usage. Errors are
 * `{ error: { code, message, status, details? } }`.
 */
import type { FaultStatus } from '../fake-provider-spec.ts';
import {
  fakeId,
  isRecord,
  lastText,
  type ParsedRequest,
  type RenderContext,
  type SseEvent,
  splitDeltas,
  type WireFormat,
} from './common.ts';

const statuses: Record<number, { status: string; message: string }> = {
  400: { status: 'INVALID_ARGUMENT', message: 'Request contains an invalid argument.' },
  401: { status: 'UNAUTHENTICATED', message: 'API key not valid. Please pass a valid API key.' },
  403: { status: 'PERMISSION_DENIED', message: 'The caller does not have permission.' },
  404: { status: 'NOT_FOUND', message: 'models/unknown is not found for API version v1beta.' },
  429: { status: 'RESOURCE_EXHAUSTED', message: 'Resource has been exhausted (e.g. check quota).' },
  500: { status: 'INTERNAL', message: 'An internal error has occurred.' },
  503: { status: 'UNAVAILABLE', message: 'The model is overloaded. Please try again later.' },
  529: { status: 'UNAVAILABLE', message: 'The model is overloaded. Please try again later.' },
};

/** `/v1beta/models/gemini-2.0-flash:generateContent` → `{ model: 'gemini-2.0-flash', stream: false }`. */
export function parseGooglePath(path: string): { model: string; stream: boolean } | undefined {
  const match = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent)$/.exec(path);
  if (match === null) return undefined;
  return { model: decodeURIComponent(match[1] ?? ''), stream: match[2] === 'streamGenerateContent' };
}

function usageMetadata(context: RenderContext) {
  const { inputTokens, outputTokens } = context.reply.usage;
  return {
    promptTokenCount: inputTokens,
    candidatesTokenCount: outputTokens,
    totalTokenCount: inputTokens + outputTokens,
  };
}

/**
 * Gemini 3 signs the first function call of a turn and expects the signature back with it; the
 * SDK warns (and injects a bypass sentinel) when a replayed call lacks one, so the fake signs too.
 */
function functionCallParts(context: RenderContext) {
  return context.reply.toolCalls.map((call, index) => ({
    functionCall: { name: call.name, args: call.args },
    ...(index === 0
      ? { thoughtSignature: Buffer.from(`fake-signature-${context.seq}`).toString('base64') }
      : {}),
  }));
}

/** The Gemini generateContent wire format. */
export const googleWire: WireFormat = {
  parse(body, path): ParsedRequest {
    const record = isRecord(body) ? body : {};
    const route = parseGooglePath(path);
    return {
      model: route?.model,
      stream: route?.stream ?? false,
      lastUserText: lastText(record.contents, ['user'], 'parts'),
      promptChars:
        JSON.stringify(record.contents ?? '').length + JSON.stringify(record.systemInstruction ?? '').length,
      includeUsage: true,
    };
  },

  json(context) {
    const parts: unknown[] = [];
    if (context.reply.text !== '' || context.reply.toolCalls.length === 0)
      parts.push({ text: context.reply.text });
    parts.push(...functionCallParts(context));
    return {
      candidates: [{ content: { parts, role: 'model' }, finishReason: 'STOP', index: 0 }],
      usageMetadata: usageMetadata(context),
      modelVersion: context.model,
      responseId: fakeId('resp-', context.seq),
    };
  },

  events(context) {
    const chunk = (parts: unknown[], last: boolean): SseEvent => ({
      data: JSON.stringify({
        candidates: [
          {
            content: { parts, role: 'model' },
            ...(last ? { finishReason: 'STOP' } : {}),
            index: 0,
          },
        ],
        ...(last ? { usageMetadata: usageMetadata(context) } : {}),
        modelVersion: context.model,
        responseId: fakeId('resp-', context.seq),
      }),
    });
    const deltas = splitDeltas(context.reply.text);
    const calls = functionCallParts(context);
    const events: SseEvent[] = [];
    // Gemini sends function calls whole (never as argument deltas), in the chunk that finishes.
    deltas.forEach((text, index) => {
      const last = index === deltas.length - 1 && calls.length === 0;
      events.push(chunk([{ text }], last));
    });
    if (calls.length > 0 || deltas.length === 0)
      events.push(chunk(calls.length > 0 ? calls : [{ text: '' }], true));
    return events;
  },

  errorBody(status: FaultStatus | number, message: string | undefined, retryAfterSeconds?: number) {
    const known = statuses[status] ?? { status: 'UNKNOWN', message: `HTTP ${status}` };
    return {
      error: {
        code: status,
        message: message ?? known.message,
        status: known.status,
        ...(retryAfterSeconds === undefined
          ? {}
          : {
              details: [
                { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retryAfterSeconds}s` },
              ],
            }),
      },
    };
  },
};
