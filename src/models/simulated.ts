/**
 * The `simulated` provider: a deterministic, keyless AI SDK language model. It answers from
 * scripted rules first, then from a small rule-based engine (intent, entities, JSON from a
 * schema, replies built from tool results), so councils do visible work without any API.
 * Same input, same output, every time.
 */

import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  LanguageModelV4,
  LanguageModelV4CallOptions,
  LanguageModelV4Content,
  LanguageModelV4GenerateResult,
  LanguageModelV4Prompt,
  LanguageModelV4StreamPart,
  LanguageModelV4StreamResult,
  LanguageModelV4Usage,
} from '@ai-sdk/provider';
import { classify, defaultReply, describeToolOutput, jsonFromSchema } from './simulated-replies.ts';
import type { SimulatedRule } from './types.ts';

/** Waits `ms` (none when 0), ending early with the abort reason. */
async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  if (ms <= 0) return;
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
  } catch (error) {
    // timers/promises rejects with its own AbortError; callers expect the signal's reason.
    if (signal?.aborted) throw signal.reason;
    throw error;
  }
}

export interface SimulatedModelOptions {
  modelId: string;
  rules?: SimulatedRule[];
  /** Added latency per call in ms (default 0). Honours the abort signal. */
  latencyMs?: number;
}

interface Decision {
  content: LanguageModelV4Content[];
  finish: 'stop' | 'tool-calls';
}

/** Creates a simulated model; see the module comment for how it answers. */
export function createSimulatedModel(options: SimulatedModelOptions): LanguageModelV4 {
  const rules = (options.rules ?? []).map((rule) => ({ re: new RegExp(rule.when, 'i'), reply: rule.reply }));
  const latencyMs = options.latencyMs ?? 0;

  function decide(call: LanguageModelV4CallOptions): Decision {
    const view = readPrompt(call.prompt);
    for (const rule of rules) {
      if (rule.re.test(view.lastUser)) {
        const text = rule.reply
          .replaceAll('{{input}}', () => view.lastUser)
          .replaceAll('{{agent}}', () => view.systemFirstLine);
        return { content: [{ type: 'text', text }], finish: 'stop' };
      }
    }
    if (call.responseFormat?.type === 'json') {
      const value = jsonFromSchema(call.responseFormat.schema ?? defaultJsonSchema, view.lastUser);
      return { content: [{ type: 'text', text: JSON.stringify(value) }], finish: 'stop' };
    }
    const tools = (call.tools ?? []).filter((t) => t.type === 'function');
    if (tools.length > 0 && view.toolResults.length === 0 && call.toolChoice?.type !== 'none') {
      const content: LanguageModelV4Content[] = tools.map((tool, i) => ({
        type: 'tool-call',
        toolCallId: `sim-call-${view.turn}-${i}`,
        toolName: tool.name,
        input: JSON.stringify(jsonFromSchema(tool.inputSchema, view.lastUser)),
      }));
      return { content, finish: 'tool-calls' };
    }
    if (view.toolResults.length > 0) {
      const facts = view.toolResults.map((r) => describeToolOutput(r.toolName, r.value)).join(' ');
      const c = classify(view.lastUser);
      const text = `${facts} Next step for this ${c.intent.replace('_', ' ')} request: ${nextStep(c.intent)}`;
      return { content: [{ type: 'text', text }], finish: 'stop' };
    }
    return {
      content: [{ type: 'text', text: defaultReply(view.systemFirstLine, view.lastUser) }],
      finish: 'stop',
    };
  }

  return {
    specificationVersion: 'v4',
    provider: 'simulated',
    modelId: options.modelId,
    supportedUrls: {},
    async doGenerate(call): Promise<LanguageModelV4GenerateResult> {
      await pause(latencyMs, call.abortSignal);
      const decision = decide(call);
      return {
        content: decision.content,
        finishReason: { unified: decision.finish, raw: decision.finish },
        usage: usageOf(call.prompt, decision.content),
        warnings: [],
        response: {
          id: `sim-${createHash('sha256').update(JSON.stringify(call.prompt)).digest('hex').slice(0, 16)}`,
          modelId: options.modelId,
          timestamp: new Date(0),
        },
      };
    },
    async doStream(call): Promise<LanguageModelV4StreamResult> {
      await pause(latencyMs, call.abortSignal);
      const decision = decide(call);
      const parts: LanguageModelV4StreamPart[] = [{ type: 'stream-start', warnings: [] }];
      for (const [i, item] of decision.content.entries()) {
        if (item.type === 'text') {
          const id = `t${i}`;
          parts.push({ type: 'text-start', id });
          for (const delta of item.text.match(/\S+\s*|\s+/g) ?? [])
            parts.push({ type: 'text-delta', id, delta });
          parts.push({ type: 'text-end', id });
        } else {
          parts.push(item as LanguageModelV4StreamPart);
        }
      }
      parts.push({
        type: 'finish',
        finishReason: { unified: decision.finish, raw: decision.finish },
        usage: usageOf(call.prompt, decision.content),
      });
      const stream = new ReadableStream<LanguageModelV4StreamPart>({
        start(controller) {
          for (const part of parts) controller.enqueue(part);
          controller.close();
        },
      });
      return { stream };
    },
  };
}

const defaultJsonSchema = {
  type: 'object',
  properties: { intent: { type: 'string' }, entities: { type: 'object' }, confidence: { type: 'number' } },
};

function nextStep(intent: string): string {
  switch (intent) {
    case 'refund':
      return 'confirm the order and issue the refund to the original payment method.';
    case 'shipping':
      return 'share the tracking status and the expected delivery date.';
    case 'billing':
      return 'review the charge with the customer and correct the invoice if needed.';
    case 'cancellation':
      return 'confirm the cancellation and the date it takes effect.';
    case 'technical_support':
      return 'walk the customer through the fix and open a ticket if it persists.';
    default:
      return 'ask one clarifying question.';
  }
}

interface PromptView {
  systemFirstLine: string;
  lastUser: string;
  toolResults: Array<{ toolName: string; value: unknown }>;
  turn: number;
}

/** The parts of a prompt the rules look at: the last user text and tool results after it. */
function readPrompt(prompt: LanguageModelV4Prompt): PromptView {
  let system = '';
  let lastUser = '';
  let toolResults: PromptView['toolResults'] = [];
  let turn = 0;
  for (const message of prompt) {
    if (message.role === 'system') system ||= message.content;
    else if (message.role === 'user') {
      lastUser = message.content.map((p) => (p.type === 'text' ? p.text : '')).join(' ');
      toolResults = [];
      turn++;
    } else if (message.role === 'tool') {
      for (const part of message.content) {
        if (part.type !== 'tool-result') continue;
        const out = part.output;
        const value = out.type === 'json' || out.type === 'text' ? out.value : out.type;
        toolResults.push({ toolName: part.toolName, value });
      }
    }
  }
  return { systemFirstLine: system.split('\n')[0]?.trim() ?? '', lastUser, toolResults, turn };
}

function usageOf(prompt: LanguageModelV4Prompt, content: LanguageModelV4Content[]): LanguageModelV4Usage {
  const input = Math.ceil(JSON.stringify(prompt).length / 4);
  const output = Math.ceil(
    content.reduce(
      (n, c) => n + (c.type === 'text' ? c.text.length : c.type === 'tool-call' ? c.input.length : 0),
      0,
    ) / 4,
  );
  return {
    inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 },
    outputTokens: { total: output, text: output, reasoning: 0 },
  };
}
