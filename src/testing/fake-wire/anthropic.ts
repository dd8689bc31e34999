/**
 * Anthropic messages (`POST /v1/messages`). JSON answers are a `message` with `text` and
 * `tool_use` content blocks; streams are message_start, ping, content_block_start /
 * content_block_delta (`text_delta`, `input_json_delta`) / content_block_stop, message_delta with
 * the stop reason and output usage, message_stop. Errors are `{ type: 'error', error: { type, message } }`.
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

const errorTypes: Record<number, { type: string; message: string }> = {
  400: { type: 'invalid_request_error', message: 'Invalid request.' },
  401: { type: 'authentication_error', message: 'invalid x-api-key' },
  403: {
    type: 'permission_error',
    message: 'Your API key does not have permission to use the specified resource.',
  },
  404: { type: 'not_found_error', message: 'The requested resource could not be found.' },
  429: {
    type: 'rate_limit_error',
    message: 'Number of request tokens has exceeded your per-minute rate limit.',
  },
  500: { type: 'api_error', message: 'An unexpected error has occurred internal to our systems.' },
  503: { type: 'api_error', message: 'The service is temporarily unavailable.' },
  529: { type: 'overloaded_error', message: 'Overloaded' },
};

function contentBlocks(context: RenderContext): Array<Record<string, unknown>> {
  const { reply } = context;
  const blocks: Array<Record<string, unknown>> = [];
  if (reply.text !== '' || reply.toolCalls.length === 0) blocks.push({ type: 'text', text: reply.text });
  for (const call of reply.toolCalls)
    blocks.push({ type: 'tool_use', id: call.id, name: call.name, input: call.args });
  return blocks;
}

function stopReason(context: RenderContext): string {
  return context.reply.toolCalls.length > 0 ? 'tool_use' : 'end_turn';
}

/** The Anthropic messages wire format. */
export const anthropicWire: WireFormat = {
  parse(body): ParsedRequest {
    const record = isRecord(body) ? body : {};
    return {
      model: typeof record.model === 'string' ? record.model : undefined,
      stream: record.stream === true,
      lastUserText: lastText(record.messages, ['user'], 'content'),
      promptChars: JSON.stringify(record.messages ?? '').length + JSON.stringify(record.system ?? '').length,
      includeUsage: true,
    };
  },

  json(context) {
    const { inputTokens, outputTokens } = context.reply.usage;
    return {
      id: fakeId('msg_', context.seq),
      type: 'message',
      role: 'assistant',
      model: context.model,
      content: contentBlocks(context),
      stop_reason: stopReason(context),
      stop_sequence: null,
      usage: {
        input_tokens: inputTokens,
        output_tokens: outputTokens,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      },
    };
  },

  events(context) {
    const event = (type: string, payload: Record<string, unknown> = {}): SseEvent => ({
      event: type,
      data: JSON.stringify({ type, ...payload }),
    });
    const { inputTokens, outputTokens } = context.reply.usage;
    const events: SseEvent[] = [
      event('message_start', {
        message: {
          id: fakeId('msg_', context.seq),
          type: 'message',
          role: 'assistant',
          model: context.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: {
            input_tokens: inputTokens,
            output_tokens: 1,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
          },
        },
      }),
      event('ping'),
    ];
    contentBlocks(context).forEach((block, index) => {
      if (block.type === 'text') {
        events.push(
          event('content_block_start', { index, content_block: { type: 'text', text: '' } }),
          ...splitDeltas(String(block.text)).map((text) =>
            event('content_block_delta', { index, delta: { type: 'text_delta', text } }),
          ),
          event('content_block_stop', { index }),
        );
        return;
      }
      events.push(
        event('content_block_start', {
          index,
          content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
        }),
        ...splitArgs(JSON.stringify(block.input ?? {})).map((partial_json) =>
          event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json } }),
        ),
        event('content_block_stop', { index }),
      );
    });
    events.push(
      event('message_delta', {
        delta: { stop_reason: stopReason(context), stop_sequence: null },
        usage: { output_tokens: outputTokens },
      }),
      event('message_stop'),
    );
    return events;
  },

  errorBody(status: FaultStatus | number, message: string | undefined) {
    const known = errorTypes[status] ?? { type: 'api_error', message: `HTTP ${status}` };
    return { type: 'error', error: { type: known.type, message: message ?? known.message } };
  },
};
