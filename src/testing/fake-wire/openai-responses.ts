/**
 * OpenAI Responses API (`POST /v1/responses`), the default API of `@ai-sdk/openai`. JSON answers
 * carry `output[]` items (`message` with `output_text`, `function_call`); streams are named events
 * with `sequence_number`: response.created, response.in_progress, output_item.added,
 * content_part.added, output_text.delta, function_call_arguments.delta, output_item.done and
 * response.completed with usage.
 */
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
import { openaiErrorBody } from './openai-chat.ts';

function usage(context: RenderContext) {
  const { inputTokens, outputTokens } = context.reply.usage;
  return {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: inputTokens + outputTokens,
  };
}

function outputItems(context: RenderContext) {
  const { reply, seq } = context;
  const items: Array<Record<string, unknown>> = [];
  if (reply.text !== '' || reply.toolCalls.length === 0) {
    items.push({
      type: 'message',
      id: fakeId('msg_', seq),
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text: reply.text, annotations: [], logprobs: [] }],
    });
  }
  reply.toolCalls.forEach((call, index) => {
    items.push({
      type: 'function_call',
      id: fakeId('fc_', seq, index),
      call_id: call.id,
      name: call.name,
      arguments: call.argsJson,
      status: 'completed',
    });
  });
  return items;
}

function responseObject(context: RenderContext, status: 'in_progress' | 'completed') {
  const done = status === 'completed';
  return {
    id: fakeId('resp_', context.seq),
    object: 'response',
    created_at: context.created,
    status,
    error: null,
    incomplete_details: null,
    model: context.model,
    output: done ? outputItems(context) : [],
    parallel_tool_calls: true,
    store: false,
    text: { format: { type: 'text' } },
    usage: done ? usage(context) : null,
  };
}

/** The Responses API wire format. */
export const openaiResponsesWire: WireFormat = {
  parse(body): ParsedRequest {
    const record = isRecord(body) ? body : {};
    return {
      model: typeof record.model === 'string' ? record.model : undefined,
      stream: record.stream === true,
      lastUserText: lastText(record.input, ['user'], 'content', ['input_text', 'text']),
      promptChars: JSON.stringify(record.input ?? '').length,
      includeUsage: true,
    };
  },

  json(context) {
    return responseObject(context, 'completed');
  },

  events(context) {
    let sequence = 0;
    const event = (type: string, payload: Record<string, unknown>): SseEvent => ({
      event: type,
      data: JSON.stringify({ type, sequence_number: sequence++, ...payload }),
    });
    const events: SseEvent[] = [
      event('response.created', { response: responseObject(context, 'in_progress') }),
      event('response.in_progress', { response: responseObject(context, 'in_progress') }),
    ];
    outputItems(context).forEach((item, outputIndex) => {
      const itemId = String(item.id);
      if (item.type === 'message') {
        const text = context.reply.text;
        events.push(
          event('response.output_item.added', {
            output_index: outputIndex,
            item: { ...item, status: 'in_progress', content: [] },
          }),
          event('response.content_part.added', {
            item_id: itemId,
            output_index: outputIndex,
            content_index: 0,
            part: { type: 'output_text', text: '', annotations: [] },
          }),
          ...splitDeltas(text).map((delta) =>
            event('response.output_text.delta', {
              item_id: itemId,
              output_index: outputIndex,
              content_index: 0,
              delta,
              logprobs: [],
            }),
          ),
          event('response.output_text.done', {
            item_id: itemId,
            output_index: outputIndex,
            content_index: 0,
            text,
            logprobs: [],
          }),
          event('response.content_part.done', {
            item_id: itemId,
            output_index: outputIndex,
            content_index: 0,
            part: { type: 'output_text', text, annotations: [] },
          }),
          event('response.output_item.done', { output_index: outputIndex, item }),
        );
        return;
      }
      const args = String(item.arguments);
      events.push(
        event('response.output_item.added', {
          output_index: outputIndex,
          item: { ...item, arguments: '', status: 'in_progress' },
        }),
        ...splitArgs(args).map((delta) =>
          event('response.function_call_arguments.delta', {
            item_id: itemId,
            output_index: outputIndex,
            delta,
          }),
        ),
        event('response.function_call_arguments.done', {
          item_id: itemId,
          output_index: outputIndex,
          arguments: args,
        }),
        event('response.output_item.done', { output_index: outputIndex, item }),
      );
    });
    events.push(event('response.completed', { response: responseObject(context, 'completed') }));
    return events;
  },

  errorBody: openaiErrorBody,
};
