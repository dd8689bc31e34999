/**
 * Run events → OpenTelemetry spans, through `@opentelemetry/api` only: the library never loads an
 * SDK. Without one registered the API hands out no-op spans, so this costs a few object reads per
 * event. With one (the app's own, or {@link OpenTelemetryExporter}) every run becomes a trace:
 *
 * ```
 * invoke_workflow {council}              run-start … run-finish | run-error
 *   invoke_agent {agent}                 agent-start … agent-finish | agent-error
 *     step {n}                           step-start … step-finish | step-error
 *       chat {model}                     one model attempt (fallbacks and retries are siblings)
 *       execute_tool {skill}             tool-call-start … tool-call-finish | tool-call-error
 *         invoke_agent {sub-agent}       sub-agents nest under what spawned them
 * ```
 *
 * Names and attributes follow the OpenTelemetry GenAI semantic conventions (`gen_ai.*`); what
 * the conventions do not cover is under `forge.*`. Parents come from the event `path`: a span's
 * parent is the innermost span still open at its own path (a tool call, else the step, else the
 * agent), else at the nearest enclosing path, else the run.
 *
 * @module
 */
import {
  type Attributes,
  type Context,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { EventError, RunEvent, Usage } from '../runtime/events.ts';

/**
 * The semantic-convention attribute names we set (GenAI conventions, `error.type`), written out
 * so library code needs no `@opentelemetry/semantic-conventions` at run time.
 */
export const genAiAttributes = {
  operationName: 'gen_ai.operation.name',
  providerName: 'gen_ai.provider.name',
  /** The pre-1.37 name of `gen_ai.provider.name`; set too, for backends that still read it. */
  system: 'gen_ai.system',
  requestModel: 'gen_ai.request.model',
  requestStream: 'gen_ai.request.stream',
  responseModel: 'gen_ai.response.model',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  agentName: 'gen_ai.agent.name',
  workflowName: 'gen_ai.workflow.name',
  toolName: 'gen_ai.tool.name',
  toolCallId: 'gen_ai.tool.call.id',
  errorType: 'error.type',
} as const;

/** `gen_ai.operation.name` values of our spans. */
export const genAiOperations = {
  run: 'invoke_workflow',
  agent: 'invoke_agent',
  modelCall: 'chat',
  toolCall: 'execute_tool',
} as const;

/**
 * Well-known `gen_ai.provider.name` values for AI SDK provider ids (the part before the first
 * dot: `openai.responses` → `openai`). Ids not listed are reported as they are.
 */
const wellKnownProviders: Readonly<Record<string, string>> = {
  google: 'gcp.gemini',
  'google.vertex': 'gcp.vertex_ai',
  vertex: 'gcp.vertex_ai',
  azure: 'azure.ai.openai',
  'amazon-bedrock': 'aws.bedrock',
  bedrock: 'aws.bedrock',
  mistral: 'mistral_ai',
  xai: 'x_ai',
};

/**
 * `gen_ai.provider.name` for an AI SDK provider id: `openai.chat` → `openai`,
 * `google.generative-ai` → `gcp.gemini`, `anthropic.messages` → `anthropic`.
 */
export function genAiProviderName(provider: string): string {
  const dot = provider.indexOf('.');
  const family = dot === -1 ? provider : provider.slice(0, dot);
  return wellKnownProviders[provider] ?? wellKnownProviders[family] ?? family;
}

/** Options of {@link createSpanRecorder}. */
export interface SpanRecorderOptions {
  /**
   * Where spans go. Default: `trace.getTracer('forge-harness')`, a proxy of the global tracer
   * provider, so a provider registered later (e.g. by `OpenTelemetryExporter.start()`) is used
   * from the next run on.
   */
  tracer?: Tracer;
  /**
   * The provider's own name of a registry model id, for `gen_ai.request.model` and span names
   * (`chat gpt-4o-2024-08-06`). Default: the registry id.
   */
  modelName?: (id: string) => string | undefined;
}

/** Turns run events into spans; see the module comment for the tree. */
export interface SpanRecorder {
  /** The event listener: O(1) work per event; `token-delta` is ignored. */
  observe(event: RunEvent): void;
  /** Ends every span still open (status error, "telemetry closed"), e.g. at shutdown. */
  close(): void;
  /** Runs with a span open now. */
  readonly openRuns: number;
}

/** The spans open at one path: an agent's turn, its current step, its tool calls in flight. */
interface Frame {
  agent: Span | undefined;
  step: Span | undefined;
  /** In start order; a model call made by a skill nests under the latest. */
  tools: Array<{ id: string; span: Span }>;
}

/** A model attempt as its `model-call-start` described it. */
interface AttemptStart {
  attempt: number;
  stream: boolean;
}

interface RunSpans {
  span: Span;
  context: Context;
  frames: Map<string, Frame>;
  tools: Map<string, { span: Span; frame: Frame }>;
  /** Starts not yet matched by a finish or an error, per `path + model`, oldest first. */
  attempts: Map<string, AttemptStart[]>;
}

const sep = '\u001f';

/** Builds a {@link SpanRecorder}. */
export function createSpanRecorder(options: SpanRecorderOptions = {}): SpanRecorder {
  const tracer = options.tracer ?? trace.getTracer('forge-harness');
  const modelName = (id: string) => options.modelName?.(id) ?? id;
  /**
   * Open runs; `null` for a run whose span does not record (no tracer provider registered, or a
   * sampler that dropped it): its agents, steps and calls would not record either, so nothing
   * of it is tracked.
   */
  const runs = new Map<string, RunSpans | null>();

  const start = (name: string, kind: SpanKind, attributes: Attributes, ts: number, parent: Context): Span =>
    tracer.startSpan(name, { kind, attributes, startTime: ts }, parent);

  /** The innermost open span at `path` (when `includeOwn`) or the nearest path enclosing it; else the run's. */
  function spanAt(run: RunSpans, path: readonly string[], key: string, includeOwn: boolean): Span {
    if (includeOwn) {
      const own = innermost(run.frames.get(key));
      if (own) return own;
    }
    for (let n = path.length - 1; n >= 1; n--) {
      const span = innermost(run.frames.get(path.slice(0, n).join(sep)));
      if (span) return span;
    }
    return run.span;
  }

  const parentOf = (run: RunSpans, path: readonly string[], key: string, includeOwn: boolean): Context =>
    trace.setSpan(run.context, spanAt(run, path, key, includeOwn));

  /** Tools are called by the step's model: never nested under another tool of the same step. */
  function toolParent(run: RunSpans, path: readonly string[], key: string): Context {
    const frame = run.frames.get(key);
    const own = frame?.step ?? frame?.agent;
    return own ? trace.setSpan(run.context, own) : parentOf(run, path, key, false);
  }

  function frameOf(run: RunSpans, key: string): Frame {
    let frame = run.frames.get(key);
    if (!frame) {
      frame = { agent: undefined, step: undefined, tools: [] };
      run.frames.set(key, frame);
    }
    return frame;
  }

  const innermostSpan = (run: RunSpans, path: readonly string[]): Span =>
    spanAt(run, path, path.join(sep), true);

  function endFrame(
    run: RunSpans,
    key: string,
    frame: Frame,
    ts: number,
    error: EventError | undefined,
  ): void {
    for (const tool of frame.tools) {
      run.tools.delete(tool.id);
      fail(tool.span, error ?? closedWith('the agent turn ended first'), ts);
    }
    frame.tools.length = 0;
    if (frame.step) fail(frame.step, error ?? closedWith('the agent turn ended first'), ts);
    frame.step = undefined;
    if (frame.agent) {
      if (error) fail(frame.agent, error, ts);
      else frame.agent.end(ts);
    }
    frame.agent = undefined;
    run.frames.delete(key);
  }

  function endRun(runId: string, ts: number, error: EventError | undefined, usage: Usage | undefined): void {
    const run = runs.get(runId);
    runs.delete(runId);
    if (!run) return;
    for (const [key, frame] of run.frames) {
      endFrame(run, key, frame, ts, error ?? (frame.agent ? closedWith('the run ended first') : undefined));
    }
    if (usage) setUsage(run.span, usage);
    if (error) fail(run.span, error, ts);
    else run.span.end(ts);
  }

  function observe(event: RunEvent): void {
    if (event.type === 'token-delta') return;
    if (event.type === 'run-start') {
      const parent = context.active();
      const span = start(
        `${genAiOperations.run} ${event.council}`,
        SpanKind.INTERNAL,
        {
          [genAiAttributes.operationName]: genAiOperations.run,
          [genAiAttributes.workflowName]: event.council,
          'forge.run.id': event.runId,
        },
        event.ts,
        parent,
      );
      if (!span.isRecording()) {
        span.end(event.ts);
        runs.set(event.runId, null);
        return;
      }
      runs.set(event.runId, {
        span,
        context: parent,
        frames: new Map(),
        tools: new Map(),
        attempts: new Map(),
      });
      return;
    }
    const run = runs.get(event.runId);
    if (run === null) {
      if (event.type === 'run-finish' || event.type === 'run-error') runs.delete(event.runId);
      return;
    }
    if (!run) {
      // A run refused before it started (unknown council, empty input, a resume that cannot
      // start) still leaves one span saying why.
      if (event.type === 'run-error') {
        const name = event.path[0];
        const span = start(
          name === undefined ? genAiOperations.run : `${genAiOperations.run} ${name}`,
          SpanKind.INTERNAL,
          {
            [genAiAttributes.operationName]: genAiOperations.run,
            'forge.run.id': event.runId,
            ...(name === undefined ? {} : { [genAiAttributes.workflowName]: name }),
          },
          event.ts,
          context.active(),
        );
        fail(span, event.error, event.ts);
      }
      return;
    }
    switch (event.type) {
      case 'run-finish':
        endRun(event.runId, event.ts, undefined, event.usage);
        return;
      case 'run-error':
        endRun(event.runId, event.ts, event.error, event.usage);
        return;
      case 'run-queued':
        run.span.setAttribute('forge.queue.wait_ms', event.waitedMs);
        run.span.setAttribute('forge.priority', event.priority);
        return;
      case 'run-resume':
        run.span.setAttribute('forge.run.attempt', event.attempt);
        run.span.addEvent('forge.run.resume', { 'forge.journaled_steps': event.journaledSteps }, event.ts);
        return;
      case 'limit-exceeded':
        run.span.addEvent(
          'forge.limit_exceeded',
          {
            'forge.limit': event.limit,
            'forge.limit.value': event.limitValue,
            'forge.limit.used': event.used,
          },
          event.ts,
        );
        return;
      case 'agent-start': {
        const key = event.path.join(sep);
        const frame = frameOf(run, key);
        frame.agent = start(
          `${genAiOperations.agent} ${event.agent}`,
          SpanKind.INTERNAL,
          {
            [genAiAttributes.operationName]: genAiOperations.agent,
            [genAiAttributes.agentName]: event.agent,
            [genAiAttributes.requestModel]: modelName(event.model),
            'forge.path': event.path.join('/'),
          },
          event.ts,
          parentOf(run, event.path, key, false),
        );
        return;
      }
      case 'agent-finish': {
        const key = event.path.join(sep);
        const frame = run.frames.get(key);
        if (frame?.agent) setUsage(frame.agent, event.usage);
        if (frame) endFrame(run, key, frame, event.ts, undefined);
        return;
      }
      case 'agent-error': {
        const key = event.path.join(sep);
        const frame = run.frames.get(key);
        if (frame) endFrame(run, key, frame, event.ts, event.error);
        return;
      }
      case 'step-start': {
        const key = event.path.join(sep);
        const frame = frameOf(run, key);
        frame.step = start(
          `step ${event.step}`,
          SpanKind.INTERNAL,
          { 'forge.step': event.step },
          event.ts,
          frame.agent ? trace.setSpan(run.context, frame.agent) : parentOf(run, event.path, key, false),
        );
        return;
      }
      case 'step-finish': {
        const frame = run.frames.get(event.path.join(sep));
        if (frame?.step) {
          frame.step.setAttribute('gen_ai.response.finish_reasons', [event.finishReason]);
          frame.step.end(event.ts);
          frame.step = undefined;
        }
        return;
      }
      case 'step-error': {
        const frame = run.frames.get(event.path.join(sep));
        if (frame?.step) {
          fail(frame.step, event.error, event.ts);
          frame.step = undefined;
        }
        return;
      }
      case 'model-call-start': {
        const key = event.path.join(sep) + sep + event.model;
        const queue = run.attempts.get(key);
        const entry = { attempt: event.attempt, stream: event.stream };
        if (queue) queue.push(entry);
        else run.attempts.set(key, [entry]);
        return;
      }
      case 'model-call-finish':
      case 'model-call-error': {
        // The span is built when the attempt ends: its events are deferred until their place among
        // the step's events, so the start's timestamp is late; latencyMs is the provider's time.
        const pathKey = event.path.join(sep);
        const key = pathKey + sep + event.model;
        const queue = run.attempts.get(key);
        const started = queue?.shift();
        if (queue && queue.length === 0) run.attempts.delete(key);
        const requestModel = modelName(event.model);
        const provider = genAiProviderName(event.provider);
        const attributes: Attributes = {
          [genAiAttributes.operationName]: genAiOperations.modelCall,
          [genAiAttributes.providerName]: provider,
          [genAiAttributes.system]: provider,
          [genAiAttributes.requestModel]: requestModel,
          'forge.model.id': event.model,
          'forge.provider': event.provider,
        };
        if (started) {
          attributes[genAiAttributes.requestStream] = started.stream;
          attributes['forge.model.attempt'] = started.attempt;
        }
        if (event.type === 'model-call-finish') {
          attributes[genAiAttributes.responseModel] = requestModel;
          attributes[genAiAttributes.inputTokens] = event.inputTokens;
          attributes[genAiAttributes.outputTokens] = event.outputTokens;
          attributes['forge.cost_usd'] = event.costUsd;
        }
        const span = start(
          `${genAiOperations.modelCall} ${requestModel}`,
          SpanKind.CLIENT,
          attributes,
          event.ts - event.latencyMs,
          parentOf(run, event.path, pathKey, true),
        );
        if (event.type === 'model-call-error') fail(span, event.error, event.ts);
        else span.end(event.ts);
        return;
      }
      case 'model-retry':
        innermostSpan(run, event.path).addEvent(
          'forge.model.retry',
          {
            'forge.model.id': event.model,
            'forge.model.attempt': event.attempt,
            'forge.delay_ms': event.delayMs,
            'forge.reason': event.reason,
          },
          event.ts,
        );
        return;
      case 'model-fallback':
        innermostSpan(run, event.path).addEvent(
          'forge.model.fallback',
          { 'forge.from': event.from, 'forge.to': event.to, 'forge.reason': event.reason },
          event.ts,
        );
        return;
      case 'model-warning':
        innermostSpan(run, event.path).addEvent(
          'forge.model.warning',
          { 'forge.model.id': event.model, 'forge.warnings': event.warnings },
          event.ts,
        );
        return;
      case 'tool-call-start': {
        const key = event.path.join(sep);
        const frame = frameOf(run, key);
        const span = start(
          `${genAiOperations.toolCall} ${event.tool}`,
          SpanKind.INTERNAL,
          {
            [genAiAttributes.operationName]: genAiOperations.toolCall,
            [genAiAttributes.toolName]: event.tool,
            [genAiAttributes.toolCallId]: event.toolCallId,
          },
          event.ts,
          toolParent(run, event.path, key),
        );
        frame.tools.push({ id: event.toolCallId, span });
        run.tools.set(event.toolCallId, { span, frame });
        return;
      }
      case 'tool-call-finish':
      case 'tool-call-error': {
        const open = run.tools.get(event.toolCallId);
        let span: Span;
        if (open) {
          run.tools.delete(event.toolCallId);
          span = open.span;
          const i = open.frame.tools.findIndex((tool) => tool.span === span);
          if (i !== -1) open.frame.tools.splice(i, 1);
        } else {
          // Input that failed the skill's schema never started: a zero-length span records it.
          span = start(
            `${genAiOperations.toolCall} ${event.tool}`,
            SpanKind.INTERNAL,
            {
              [genAiAttributes.operationName]: genAiOperations.toolCall,
              [genAiAttributes.toolName]: event.tool,
              [genAiAttributes.toolCallId]: event.toolCallId,
            },
            event.ts,
            toolParent(run, event.path, event.path.join(sep)),
          );
        }
        if (event.type === 'tool-call-error') fail(span, event.error, event.ts);
        else span.end(event.ts);
        return;
      }
      case 'decision':
        innermostSpan(run, event.path).addEvent(
          'forge.decision',
          {
            'forge.decision.kind': event.kind,
            'forge.decision.chosen': event.chosen,
            'forge.reason': event.reason,
          },
          event.ts,
        );
        return;
      case 'subagent-spawn':
        innermostSpan(run, event.path).addEvent(
          'forge.subagent.spawn',
          { 'forge.agent': event.agent, 'forge.depth': event.depth },
          event.ts,
        );
        return;
      case 'step-replayed':
        innermostSpan(run, event.path).addEvent('forge.step.replayed', { 'forge.key': event.key }, event.ts);
        return;
      default:
        return;
    }
  }

  return {
    observe,
    close() {
      const now = Date.now();
      for (const runId of [...runs.keys()]) endRun(runId, now, closedWith('telemetry closed'), undefined);
    },
    get openRuns() {
      return runs.size;
    },
  };
}

function innermost(frame: Frame | undefined): Span | undefined {
  if (!frame) return undefined;
  return frame.tools.at(-1)?.span ?? frame.step ?? frame.agent;
}

function closedWith(message: string): EventError {
  return { code: 'aborted', message, isRetryable: false };
}

function setUsage(span: Span, usage: Usage): void {
  span.setAttribute(genAiAttributes.inputTokens, usage.inputTokens);
  span.setAttribute(genAiAttributes.outputTokens, usage.outputTokens);
  span.setAttribute('forge.cost_usd', usage.costUsd);
  span.setAttribute('forge.model_calls', usage.modelCalls);
}

function fail(span: Span, error: EventError, ts: number): void {
  span.setAttribute(genAiAttributes.errorType, error.code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  span.end(ts);
}
