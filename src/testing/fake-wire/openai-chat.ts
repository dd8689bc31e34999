/**
 * OpenAI chat completions (`POST /v1/chat/completions`), also spoken by OpenAI-compatible servers.
 * Shapes follow what `@ai-sdk/openai` and `@ai-sdk/openai-compatible` parse: `choices[].message`
 * for JSON, `chat.completion.chunk` deltas with streamed `tool_calls` arguments, an optional
 * usage-only chunk (`stream_options.include_usage`) and `data: [DONE]`.
 */
import type { FaultStatus } from '../fake-provider-spec.ts';
import {
  fakeId,
  isRecord,
  lastText,
  type ParsedRequest,
  type RenderContext,
  type SseEvent,
  splitArgs,
  splitDeltas,
  type WireFormat,
} from './common.ts';

function usage(context: RenderContext) {
  const { inputTokens, outputTokens } = context.reply.usage;
  return {
    prompt_tokens: inputTokens,
    completion_tokens: outputTokens,
    total_tokens: inputTokens + outputTokens,
    prompt_tokens_details: { cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0 },
  };
}

const errorTypes: Record<number, { type: string; code: string | null; message: string }> = {
  400: { type: 'invalid_request_error', code: null, message: 'Invalid request.' },
  401: { type: 'invalid_request_error', code: 'invalid_api_key', message: 'Incorrect API key provided.' },
  403: {
    type: 'invalid_request_error',
    code: 'permission_denied',
    message: 'You do not have access to this model.',
  },
  404: { type: 'invalid_request_error', code: 'model_not_found', message: 'The model does not exist.' },
  429: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached for requests.' },
  500: {
    type: 'server_error',
    code: null,
    message: 'The server had an error while processing your request.',
  },
  503: { type: 'server_error', code: 'service_unavailable', message: 'The engine is currently overloaded.' },
  529: { type: 'server_error', code: 'overloaded', message: 'The server is overloaded.' },
};

/** OpenAI's error JSON: `{ error: { message, type, param, code } }`. */
export function openaiErrorBody(status: FaultStatus | number, message: string | undefined): unknown {
  const known = errorTypes[status] ?? {
    type: 'invalid_request_error',
    code: null,
    message: `HTTP ${status}`,
  };
  return { error: { message: message ?? known.message, type: known.type, param: null, code: known.code } };
}

/** The chat completions wire format (OpenAI and OpenAI-compatible). */
export const openaiChatWire: WireFormat = {
  parse(body): ParsedRequest {
    const record = isRecord(body) ? body : {};
    const streamOptions = isRecord(record.stream_options) ? record.stream_options : {};
    return {
      model: typeof record.model === 'string' ? record.model : undefined,
      stream: record.stream === true,
      lastUserText: lastText(record.messages, ['user'], 'content'),
      promptChars: JSON.stringify(record.messages ?? '').length,
      includeUsage: streamOptions.include_usage === true,
    };
  },

  json(context) {
    const { reply } = context;
    const toolCalls = reply.toolCalls.map((call) => ({
      id: call.id,
      type: 'function',
      function: { name: call.name, arguments: call.argsJson },
    }));
    return {
      id: fakeId('chatcmpl-', context.seq),
      object: 'chat.completion',
      created: context.created,
      model: context.model,
      system_fingerprint: 'fp_fake',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: reply.text === '' && toolCalls.length > 0 ? null : reply.text,
            refusal: null,
            ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          },
          logprobs: null,
          finish_reason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
        },
      ],
      usage: usage(context),
    };
  },

  events(context) {
    const { reply } = context;
    const base = {
      id: fakeId('chatcmpl-', context.seq),
      object: 'chat.completion.chunk',
      created: context.created,
      model: context.model,
      system_fingerprint: 'fp_fake',
    };
    const chunk = (delta: Record<string, unknown>, finishReason: string | null = null): SseEvent => ({
      data: JSON.stringify({
        ...base,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
        ...(context.includeUsage ? { usage: null } : {}),
      }),
    });
    const events: SseEvent[] = [chunk({ role: 'assistant', content: '', refusal: null })];
    for (const delta of splitDeltas(reply.text)) events.push(chunk({ content: delta }));
    reply.toolCalls.forEach((call, index) => {
      events.push(
        chunk({
          tool_calls: [
            { index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } },
          ],
        }),
      );
      for (const piece of splitArgs(call.argsJson)) {
        events.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
      }
    });
    events.push(chunk({}, reply.toolCalls.length > 0 ? 'tool_calls' : 'stop'));
    if (context.includeUsage)
      events.push({ data: JSON.stringify({ ...base, choices: [], usage: usage(context) }) });
    events.push({ data: '[DONE]' });
    return events;
  },

  errorBody: openaiErrorBody,
};
