/**
 * One model call through the harness: unified prompt → AI SDK messages → gateway model
 * (context check, fallback, events, cost) → AI SDK `generateText` or `streamText`. Streaming and
 * non-streaming share every step but the last.
 */
import { generateText, InvalidPromptError, Output, streamText } from 'ai';
import type { z } from 'zod';
import { HarnessError } from '../errors.ts';
import { createGatewayModel, type GatewayModel, type RetryPolicy } from '../gateway/gateway-model.ts';
import type { CallLimiter } from '../gateway/limiter.ts';
import { toProviderError } from '../gateway/provider-error.ts';
import type { Redactor } from '../models/credentials.ts';
import type { ModelRegistry } from '../models/registry.ts';
import { parsePrompt } from '../prompt/parse.ts';
import type { UnifiedPrompt } from '../prompt/schema.ts';
import { toModelMessages } from '../prompt/to-model-messages.ts';
import { type AiSdkTelemetry, aiSdkTelemetry } from '../telemetry/ai-sdk-telemetry.ts';
import { type EventLog, emptyUsage, type Usage } from './events.ts';

export interface CallLlmOptions {
  /** A model id from the registry. */
  model: string;
  /** A string, one unified message, or a list of them (see the prompt format guide). */
  prompt: UnifiedPrompt;
  /** Extra system text, placed before any system parts of the prompt. */
  system?: string;
  /** Output token limit for this call. */
  maxTokens?: number;
  temperature?: number;
  /** When given, the model must answer JSON matching it; the parsed value is `object`. */
  schema?: z.ZodType;
  /** Model ids tried in order if `model` fails. */
  fallback?: readonly string[];
  signal?: AbortSignal;
}

export interface CallLlmResult {
  text: string;
  /** The parsed JSON when `schema` was given. */
  object?: unknown;
  /** The registry id of the model that answered (differs from `model` after a fallback). */
  model: string;
  finishReason: string;
  usage: Usage;
}

export interface StreamLlmResult {
  /** Text deltas as they arrive. */
  textStream: AsyncIterable<string>;
  /** Settles when the stream ends. */
  result: Promise<CallLlmResult>;
}

/** What a call needs from the harness. */
export interface CallDeps {
  registry: ModelRegistry;
  redactor?: Redactor;
  log?: EventLog;
  path?: readonly string[];
  /** Also charged with every model call's usage, even when the call then fails (e.g. a skill's turn and the run). */
  charge?: readonly Usage[];
  retry?: Partial<RetryPolicy>;
  /** Rate limits and adaptive concurrency (the harness scheduler's limiter). */
  limiter?: CallLimiter;
}

interface Prepared {
  gateway: GatewayModel;
  usage: Usage;
  args: {
    model: GatewayModel;
    instructions?: string;
    messages: ReturnType<typeof toModelMessages>['messages'];
    maxOutputTokens?: number;
    temperature?: number;
    abortSignal?: AbortSignal;
    maxRetries: 0;
    telemetry: AiSdkTelemetry;
  };
}

function prepare(deps: CallDeps, options: CallLlmOptions): Prepared {
  const { system, messages } = toModelMessages(parsePrompt(options.prompt));
  if (messages.length === 0) {
    throw new HarnessError('prompt_invalid', 'the prompt has no user message, only system text', {
      location: { path: '' },
      hint: 'add a part such as { "type": "user", "value": "..." } (or pass a plain string)',
    });
  }
  const usage = emptyUsage();
  const gateway = createGatewayModel({
    registry: deps.registry,
    chain: [options.model, ...(options.fallback ?? [])],
    charge: [usage, ...(deps.charge ?? [])],
    ...(deps.limiter === undefined ? {} : { limiter: deps.limiter }),
    ...(deps.retry === undefined ? {} : { retry: deps.retry }),
    ...(deps.log === undefined ? {} : { log: deps.log, path: deps.path ?? [] }),
    ...(deps.redactor === undefined ? {} : { redactor: deps.redactor }),
  });
  const joined = [options.system, system].filter((s): s is string => !!s).join('\n\n');
  return {
    gateway,
    usage,
    args: {
      model: gateway,
      messages,
      // The gateway owns retries and fallback; the AI SDK's own retry would repeat the whole chain.
      maxRetries: 0,
      telemetry: aiSdkTelemetry(),
      ...(joined ? { instructions: joined } : {}),
      ...(options.maxTokens === undefined ? {} : { maxOutputTokens: options.maxTokens }),
      ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
      ...(options.signal === undefined ? {} : { abortSignal: options.signal }),
    },
  };
}

/** A non-streaming call. Failures are HarnessErrors (`provider_error`, `context_too_long`, `aborted`, ...). */
export async function callLlm(deps: CallDeps, options: CallLlmOptions): Promise<CallLlmResult> {
  const { gateway, usage, args } = prepare(deps, options);
  try {
    if (options.schema) {
      const result = await generateText({ ...args, output: Output.object({ schema: options.schema }) });
      return {
        text: result.text,
        object: result.output,
        model: gateway.answeredBy() ?? options.model,
        finishReason: result.finishReason,
        usage,
      };
    }
    const result = await generateText(args);
    return {
      text: result.text,
      model: gateway.answeredBy() ?? options.model,
      finishReason: result.finishReason,
      usage,
    };
  } catch (error) {
    throw unwrap(error, options, deps);
  }
}

/** A streaming call through the same path as {@link callLlm}. */
export function streamLlm(deps: CallDeps, options: CallLlmOptions): StreamLlmResult {
  const { gateway, usage, args } = prepare(deps, options);
  let failure: unknown;
  const result = streamText({
    ...args,
    onError: ({ error }) => {
      failure = error;
    },
  });
  const textStream = (async function* () {
    for await (const delta of result.textStream) yield delta;
    if (failure !== undefined) throw unwrap(failure, options, deps);
    // An abort ends the AI SDK stream quietly; for our callers it is terminal and typed.
    if (options.signal?.aborted) throw unwrap(options.signal.reason, options, deps);
  })();
  const settled = (async (): Promise<CallLlmResult> => {
    try {
      const [text, finishReason] = await Promise.all([result.text, result.finishReason]);
      if (failure !== undefined) throw failure;
      return { text, model: gateway.answeredBy() ?? options.model, finishReason, usage };
    } catch (error) {
      throw unwrap(failure ?? error, options, deps);
    }
  })();
  // The caller may only read textStream; an unobserved rejection must not crash the process.
  settled.catch(() => {});
  return { textStream, result: settled };
}

/** The AI SDK wraps errors thrown by the model (RetryError, NoOutputGenerated); report ours. */
function unwrap(error: unknown, options: CallLlmOptions, deps: CallDeps): HarnessError {
  if (InvalidPromptError.isInstance(error)) {
    // The AI SDK refused the converted prompt before any model saw it: the caller's input is at fault.
    return new HarnessError('prompt_invalid', `the prompt was refused: ${error.message}`, {
      cause: error,
      hint: 'see the prompt format guide (docs/prompt-format.md)',
    });
  }
  let e: unknown = error;
  for (let i = 0; i < 5 && e && typeof e === 'object'; i++) {
    const inner = (e as { lastError?: unknown; cause?: unknown }).lastError ?? undefined;
    if (inner === undefined) break;
    e = inner;
  }
  return toProviderError(e, options.model, deps.redactor, options.signal);
}
