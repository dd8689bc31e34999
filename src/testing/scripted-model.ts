/**
 * A deterministic AI SDK language model that plays back a script, one step per call. It needs no
 * network and no API key, so tests of agents, councils and the gateway can script exactly the
 * answers, tool calls, stream breaks and provider errors they want to exercise.
 */
import type {
  LanguageModelV4,
  LanguageModelV4CallOptions,
  LanguageModelV4Content,
  LanguageModelV4FinishReason,
  LanguageModelV4GenerateResult,
  LanguageModelV4Prompt,
  LanguageModelV4StreamPart,
  LanguageModelV4StreamResult,
  LanguageModelV4Usage,
} from '@ai-sdk/provider';
import { HarnessError } from '../errors.ts';

/** Token counts a step reports instead of the computed estimate. */
export interface ScriptedUsage {
  inputTokens: number;
  outputTokens: number;
}

/** A tool call the model asks for. `input` is JSON-encoded for the SDK. */
export interface ScriptedToolCall {
  toolName: string;
  input: unknown;
  /** Default `call-<callNumber>-<index>`. */
  toolCallId?: string;
}

/**
 * One scripted answer, consumed by one `doGenerate` or `doStream` call:
 * - `{ text }`: a plain answer.
 * - `{ toolCalls, text? }`: the model asks for tools (finish reason `tool-calls`).
 * - `{ stream, chunkDelayMs? }`: text deltas for `doStream`; `doGenerate` joins them.
 * - `{ error }`: thrown by the call, e.g. an `APICallError`.
 * - `{ streamError, afterChunks, stream }`: `doStream` emits `afterChunks` deltas, then an error
 *   part (then a `finish` with reason `error`, as the real providers do); `doGenerate` throws it.
 */
export type ScriptStep =
  | { text: string; usage?: ScriptedUsage }
  | { toolCalls: ScriptedToolCall[]; text?: string; usage?: ScriptedUsage }
  | { stream: string[]; chunkDelayMs?: number; usage?: ScriptedUsage }
  | { error: unknown }
  | { streamError: unknown; afterChunks: number; stream: string[] };

/** How a {@link ScriptedModel} plays its script. */
export interface ScriptedModelOptions {
  /** The script, played in order. */
  steps: ScriptStep[];
  /** Provider id; default `scripted`. */
  provider?: string;
  /** Model id; default `scripted-model`. */
  modelId?: string;
  /** Delay before every call answers, in milliseconds; default 0. Honours the call's abort signal. */
  delayMs?: number;
  /** When the script runs out, repeat the last step instead of throwing; default false. */
  loop?: boolean;
}

/**
 * An AI SDK `LanguageModelV4` that answers from a script. Each call takes the next step; when the
 * steps run out it repeats the last one (`loop: true`) or throws `script_exhausted`.
 *
 * @example
 * const model = new ScriptedModel({ steps: [{ toolCalls: [{ toolName: 'add', input: { a: 1, b: 2 } }] }, { text: '3' }] });
 * await generateText({ model, tools, prompt: 'add', stopWhen: isStepCount(3) });
 */
export class ScriptedModel implements LanguageModelV4 {
  readonly specificationVersion = 'v4' as const;
  readonly provider: string;
  readonly modelId: string;
  readonly supportedUrls: Record<string, RegExp[]> = {};
  /** The options of every call so far, in order (both `doGenerate` and `doStream`). */
  readonly calls: LanguageModelV4CallOptions[] = [];
  readonly #steps: readonly ScriptStep[];
  readonly #delayMs: number;
  readonly #loop: boolean;

  constructor(options: ScriptedModelOptions) {
    if (options.steps.length === 0) {
      throw new HarnessError('script_exhausted', 'ScriptedModel needs at least one step', {
        hint: 'pass steps: [{ text: "..." }]',
      });
    }
    this.#steps = [...options.steps];
    this.provider = options.provider ?? 'scripted';
    this.modelId = options.modelId ?? 'scripted-model';
    this.#delayMs = options.delayMs ?? 0;
    this.#loop = options.loop ?? false;
  }

  /** Steps not yet consumed (0 once exhausted, also when looping). */
  get remaining(): number {
    return Math.max(0, this.#steps.length - this.calls.length);
  }

  /** Plays the next step as one complete answer (a `stream` step is joined). Called by `generateText`. */
  async doGenerate(options: LanguageModelV4CallOptions): Promise<LanguageModelV4GenerateResult> {
    const { step, callNumber } = this.#take(options);
    await wait(this.#delayMs, options.abortSignal);
    if ('error' in step) throw step.error;
    if ('streamError' in step) throw step.streamError;

    const content: LanguageModelV4Content[] = [];
    const text = 'stream' in step ? step.stream.join('') : step.text;
    if (text !== undefined && text !== '') content.push({ type: 'text', text });
    const toolCalls = 'toolCalls' in step ? toolCallParts(step.toolCalls, callNumber) : [];
    content.push(...toolCalls);
    return {
      content,
      finishReason: finishReason(toolCalls.length > 0),
      usage: usageOf(step.usage, options.prompt, outputChars(text, toolCalls)),
      response: { id: `scripted-${callNumber}`, modelId: this.modelId, timestamp: new Date(0) },
      warnings: [],
    };
  }

  /** Plays the next step as a stream of parts. Called by `streamText`. */
  async doStream(options: LanguageModelV4CallOptions): Promise<LanguageModelV4StreamResult> {
    const { step, callNumber } = this.#take(options);
    await wait(this.#delayMs, options.abortSignal);
    if ('error' in step) throw step.error;

    const signal = options.abortSignal;
    const modelId = this.modelId;
    const head: LanguageModelV4StreamPart[] = [
      { type: 'stream-start', warnings: [] },
      { type: 'response-metadata', id: `scripted-${callNumber}`, modelId, timestamp: new Date(0) },
    ];

    if ('streamError' in step) {
      const deltas = step.stream.slice(0, step.afterChunks);
      const parts: LanguageModelV4StreamPart[] = [...head, ...textParts(deltas)];
      parts.push({ type: 'error', error: step.streamError });
      parts.push({
        type: 'finish',
        finishReason: { unified: 'error', raw: undefined },
        usage: usageOf(undefined, options.prompt, deltas.join('').length),
      });
      return { stream: partStream(parts, 0, signal) };
    }

    const deltas =
      'stream' in step ? step.stream : step.text === undefined || step.text === '' ? [] : [step.text];
    const toolCalls = 'toolCalls' in step ? toolCallParts(step.toolCalls, callNumber) : [];
    const parts: LanguageModelV4StreamPart[] = [...head, ...textParts(deltas)];
    for (const call of toolCalls) {
      parts.push(
        { type: 'tool-input-start', id: call.toolCallId, toolName: call.toolName },
        { type: 'tool-input-delta', id: call.toolCallId, delta: call.input },
        { type: 'tool-input-end', id: call.toolCallId },
        call,
      );
    }
    parts.push({
      type: 'finish',
      finishReason: finishReason(toolCalls.length > 0),
      usage: usageOf(step.usage, options.prompt, outputChars(deltas.join(''), toolCalls)),
    });
    const chunkDelayMs = 'chunkDelayMs' in step ? (step.chunkDelayMs ?? 0) : 0;
    return { stream: partStream(parts, chunkDelayMs, signal) };
  }

  #take(options: LanguageModelV4CallOptions): { step: ScriptStep; callNumber: number } {
    this.calls.push(options);
    const callNumber = this.calls.length;
    const step = this.#steps[callNumber - 1] ?? (this.#loop ? this.#steps.at(-1) : undefined);
    if (step === undefined) {
      throw new HarnessError(
        'script_exhausted',
        `ScriptedModel ${this.provider}:${this.modelId} ran out of script at call ${callNumber} (it has ${this.#steps.length} step${this.#steps.length === 1 ? '' : 's'})`,
        {
          hint: 'add a step for this call, or pass loop: true to repeat the last step',
          details: { callNumber, steps: this.#steps.length, modelId: this.modelId },
        },
      );
    }
    return { step, callNumber };
  }
}

function toolCallParts(calls: readonly ScriptedToolCall[], callNumber: number) {
  return calls.map((call, index) => ({
    type: 'tool-call' as const,
    toolCallId: call.toolCallId ?? `call-${callNumber}-${index}`,
    toolName: call.toolName,
    input: JSON.stringify(call.input ?? {}),
  }));
}

function textParts(deltas: readonly string[]): LanguageModelV4StreamPart[] {
  if (deltas.length === 0) return [];
  return [
    { type: 'text-start', id: 'text-0' },
    ...deltas.map((delta): LanguageModelV4StreamPart => ({ type: 'text-delta', id: 'text-0', delta })),
    { type: 'text-end', id: 'text-0' },
  ];
}

function finishReason(hasToolCalls: boolean): LanguageModelV4FinishReason {
  return hasToolCalls ? { unified: 'tool-calls', raw: 'tool_calls' } : { unified: 'stop', raw: 'stop' };
}

function outputChars(text: string | undefined, toolCalls: ReadonlyArray<{ input: string }>): number {
  return (text?.length ?? 0) + toolCalls.reduce((sum, call) => sum + call.input.length, 0);
}

/** Scripted usage, else a rough estimate of 4 characters per token. */
function usageOf(
  scripted: ScriptedUsage | undefined,
  prompt: LanguageModelV4Prompt,
  outputLength: number,
): LanguageModelV4Usage {
  const input = scripted?.inputTokens ?? Math.ceil(promptChars(prompt) / 4);
  const output = scripted?.outputTokens ?? Math.ceil(outputLength / 4);
  return {
    inputTokens: { total: input, noCache: input, cacheRead: undefined, cacheWrite: undefined },
    outputTokens: { total: output, text: output, reasoning: undefined },
  };
}

function promptChars(prompt: LanguageModelV4Prompt): number {
  let chars = 0;
  for (const message of prompt) {
    if (typeof message.content === 'string') {
      chars += message.content.length;
      continue;
    }
    for (const part of message.content) {
      if (part.type === 'text' || part.type === 'reasoning') chars += part.text.length;
      else if (part.type === 'tool-call') chars += JSON.stringify(part.input ?? null).length;
      else if (part.type === 'tool-result') chars += JSON.stringify(part.output ?? null).length;
    }
  }
  return chars;
}

/** A pull stream of the parts, `delayMs` apart; an abort errors it with the signal's reason. */
function partStream(
  parts: readonly LanguageModelV4StreamPart[],
  delayMs: number,
  signal: AbortSignal | undefined,
): ReadableStream<LanguageModelV4StreamPart> {
  let index = 0;
  let deltasSent = 0;
  return new ReadableStream<LanguageModelV4StreamPart>({
    async pull(controller) {
      const part = parts[index];
      if (part === undefined) {
        controller.close();
        return;
      }
      // Only the gaps between text deltas are paced: a delay models a slow model, not a slow envelope.
      if (part.type === 'text-delta' && deltasSent > 0) await wait(delayMs, signal);
      else if (signal?.aborted) throw signal.reason;
      if (part.type === 'text-delta') deltasSent += 1;
      index += 1;
      controller.enqueue(part);
    },
  });
}

/**
 * Resolves after `ms`; rejects with the signal's reason on abort. Clears its timer and listener
 * either way, so an aborted test leaves nothing scheduled.
 */
function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
