/**
 * One agent turn: load the agent's thread from memory, run the model/tool loop through the
 * gateway (streaming, so token deltas reach the events), save the exchange, report usage.
 */
import { generateText, isStepCount, type ModelMessage, streamText, type ToolSet, tool } from 'ai';
import { z } from 'zod';
import { HarnessError, toHarnessError } from '../errors.ts';
import { createGatewayModel, type RetryPolicy } from '../gateway/gateway-model.ts';
import type { CallLimiter } from '../gateway/limiter.ts';
import { toProviderError } from '../gateway/provider-error.ts';
import type { Memory, MemoryNamespace } from '../memory/index.ts';
import type { Redactor } from '../models/credentials.ts';
import type { ModelRegistry } from '../models/registry.ts';
import { costUsd } from '../models/registry.ts';
import { aiSdkTelemetry } from '../telemetry/ai-sdk-telemetry.ts';
import type { Agent, AgentOptions } from './agent.ts';
import { type Budget, isRunLimit } from './budget.ts';
import { type CallDeps, callLlm } from './call-llm.ts';
import { type EventError, type EventLog, emptyUsage, type Usage } from './events.ts';
import type { RunJournal } from './journal.ts';
import { journaledModel } from './journaled-model.ts';
import type { AnySkill, SkillContext } from './skill.ts';
import type { AgentSpec } from './spec.ts';

/** Malformed tool calls a turn tolerates (each goes back to the model as a validation message). */
const maxInvalidToolCalls = 3;

/** What a sub-agent is asked to do. */
export interface SpawnRequest {
  /** An agent of the same council by name, or an ad-hoc agent. */
  agent: string | Agent | AgentOptions;
  input: string;
}

/** A sub-agent's outcome as its parent sees it: a failure is a value, not an exception. */
export interface SubAgentResult {
  status: 'succeeded' | 'failed';
  agent?: string;
  output?: string;
  confidence?: number;
  error?: EventError;
}

/** Messages of the agent's own thread given to the model as context. */
const historyWindow = 20;

export interface AgentTurn {
  runId: string;
  council: string;
  agent: AgentSpec;
  skills: ReadonlyArray<AnySkill>;
  input: string;
  path: readonly string[];
  registry: ModelRegistry;
  redactor: Redactor;
  log: EventLog;
  memory: Memory;
  tenant: string;
  signal: AbortSignal;
  /** Totals of the enclosing steps and the run: every model call of the turn is charged to each, as it happens. */
  charge: readonly Usage[];
  retry?: Partial<RetryPolicy>;
  limiter?: CallLimiter;
  /** Journal key of the turn: its model calls are `<key>/call<n>`, its tool calls `<key>/tool:<id>`. */
  key: string;
  journal: RunJournal | undefined;
  budget: Budget;
  /** The run's output so far, for a limit's partial output. */
  partialOutput: () => string;
  /**
   * Stream the model's answer (token-delta events as they come; default) or, when `false`, use
   * one non-streaming call per step: less work when nobody reads the tokens. `auto`: stream when
   * the run's log is watched live as the turn starts ({@link EventLog.watched}).
   */
  stream?: boolean | 'auto';
  /** Runs a sub-agent for this turn (skill context `spawn` and the `spawn_agent` tool). */
  spawn: (request: SpawnRequest, toolCallId: string) => Promise<SubAgentResult>;
}

export interface AgentTurnResult {
  output: string;
  model: string;
  usage: Usage;
  /** Model/tool loop steps the turn used. */
  steps: number;
  /** Tool calls that failed (bad input or a failing skill). */
  toolErrors: number;
  /** 0..1: how much an ensemble model's members agreed on the last answer (ensembles only). */
  agreement?: number;
}

export function eventError(error: unknown): EventError {
  const e = toHarnessError(error);
  return {
    code: e.code,
    message: e.message,
    isRetryable: e.isRetryable,
    ...(e.hint ? { hint: e.hint } : {}),
  };
}

export async function runAgentTurn(turn: AgentTurn): Promise<AgentTurnResult> {
  const { agent, log, path, memory, signal } = turn;
  const started = Date.now();
  const usage = emptyUsage();
  const agentNs: MemoryNamespace = { tenant: turn.tenant, council: turn.council, agent: agent.name };
  const councilNs: MemoryNamespace = { tenant: turn.tenant, council: turn.council };
  log.emit(path, { type: 'agent-start', agent: agent.name, model: agent.model, input: turn.input });
  let unlinkRun: (() => void) | undefined;
  try {
    // The thread as context: a rolling summary (when the Memory has a summarize hook) plus the
    // latest messages after it.
    const { summary, messages: history } = await memory.context(agentNs, { limit: historyWindow, signal });
    const instructions = [agent.instructions, summary && `Summary of the conversation so far:\n${summary}`]
      .filter(Boolean)
      .join('\n\n');
    const messages: ModelMessage[] = history
      .filter((m) => m.role === 'user' || m.role === 'assistant')
      .map((m) => ({ role: m.role as 'user' | 'assistant', content: m.content }));
    messages.push({ role: 'user', content: turn.input });

    const charge = [usage, ...turn.charge];
    const streamed =
      turn.stream === 'auto'
        ? log.watched() || measuresFirstToken(turn.registry, [agent.model, ...(agent.fallback ?? [])])
        : turn.stream !== false;
    let partial = '';
    const gateway = journaledModel({
      gateway: createGatewayModel({
        registry: turn.registry,
        chain: [agent.model, ...(agent.fallback ?? [])],
        log,
        path,
        charge,
        redactor: turn.redactor,
        // A stream is read ahead of its consumer: its events wait for their place (see flush).
        deferEvents: streamed,
        ...(turn.retry === undefined ? {} : { retry: turn.retry }),
        ...(turn.limiter === undefined ? {} : { limiter: turn.limiter }),
      }),
      journal: turn.journal,
      runId: turn.runId,
      key: turn.key,
      budget: turn.budget,
      charge,
      log,
      path,
      partialOutput: () => partial || turn.partialOutput(),
      costOf: (model, input, output) =>
        turn.registry.has(model) ? costUsd(turn.registry.entry(model), input, output) : 0,
    });
    const deps: CallDeps = {
      registry: turn.registry,
      redactor: turn.redactor,
      log,
      path,
      charge,
      ...(turn.retry === undefined ? {} : { retry: turn.retry }),
      ...(turn.limiter === undefined ? {} : { limiter: turn.limiter }),
    };
    const reported = new Set<string>();
    // An aborted skill stops the turn at once (no further model call), through the stream's signal.
    // Follows the run's signal through one listener, removed when the turn ends (cheaper for the
    // GC than AbortSignal.any, whose weak references every turn would add).
    const stopTurn = new AbortController();
    if (signal.aborted) stopTurn.abort(signal.reason);
    else {
      const onRunAbort = () => stopTurn.abort(signal.reason);
      signal.addEventListener('abort', onRunAbort, { once: true });
      unlinkRun = () => signal.removeEventListener('abort', onRunAbort);
    }
    const skillAbort: { error?: HarnessError; stop: AbortController } = { stop: stopTurn };
    const counts = { toolErrors: 0, invalid: 0 };
    const tools = toolsFor(turn, councilNs, deps, reported, skillAbort, counts);

    let step = 0;
    let stepText = '';
    let agreement: number | undefined;
    /** A tool call whose input failed the skill's schema (it never reached execute()). */
    const invalidToolCall = (part: { toolCallId: string; toolName: string; error: unknown }) => {
      if (reported.has(part.toolCallId)) return;
      reported.add(part.toolCallId);
      // The AI SDK hands the validation message back to the model; we report it and bound it.
      counts.toolErrors++;
      if (++counts.invalid > maxInvalidToolCalls && !skillAbort.error) {
        skillAbort.error = new HarnessError(
          'skill_input_invalid',
          `agent "${agent.name}" sent ${counts.invalid} tool calls whose arguments failed the skill's schema (last: ${part.toolName}: ${errorText(part.error)})`,
          {
            hint: 'describe the skill input better (field descriptions), or use a model that follows tool schemas',
            details: { tool: part.toolName, invalidCalls: counts.invalid, limit: maxInvalidToolCalls },
          },
        );
        stopTurn.abort(skillAbort.error);
      }
      log.emit(path, {
        type: 'tool-call-error',
        tool: part.toolName,
        toolCallId: part.toolCallId,
        error: eventError(new HarnessError('skill_input_invalid', errorText(part.error))),
        durationMs: 0,
      });
    };
    const stepFinished = (finishReason: string, text: string, metadata: unknown) => {
      // An ensemble model reports how much its members agreed: a confidence for trigger_on.
      const agreed = (metadata as { forge?: { agreement?: unknown } } | undefined)?.forge?.agreement;
      if (typeof agreed === 'number') agreement = agreed;
      // Without a stream a step's text arrives whole: it is the turn's partial output from here on.
      if (!streamed) partial += text;
      log.emit(path, { type: 'step-finish', step, finishReason, text });
    };
    const settings = {
      model: gateway,
      messages,
      maxRetries: 0,
      abortSignal: stopTurn.signal,
      stopWhen: isStepCount(agent.maxSteps ?? 5),
      telemetry: aiSdkTelemetry(),
      ...(instructions ? { instructions } : {}),
      ...(agent.maxTokens === undefined ? {} : { maxOutputTokens: agent.maxTokens }),
      ...(agent.temperature === undefined ? {} : { temperature: agent.temperature }),
      ...(Object.keys(tools).length ? { tools } : {}),
    };

    let failure: unknown;
    let text = '';
    let finishReason = '';
    if (!streamed) {
      // Nobody reads token deltas: one generateText loop, without the stream machinery.
      try {
        const result = await generateText({
          ...settings,
          onStepStart: () => {
            step++;
            log.emit(path, { type: 'step-start', step });
          },
          onStepFinish: (s) => {
            for (const part of s.content) if (part.type === 'tool-error') invalidToolCall(part);
            stepFinished(s.finishReason, s.text, s.providerMetadata);
          },
        });
        text = result.text;
        finishReason = result.finishReason;
      } catch (error) {
        if (!skillAbort.error) failure = error;
      }
    } else {
      const result = streamText({
        ...settings,
        onError: ({ error }) => {
          failure = error;
        },
      });
      for await (const part of result.fullStream) {
        // Model-call events wait for their place among the step and token events (see deferEvents):
        // a call starts after its step-start and finishes before its step-finish.
        if (part.type === 'finish-step') gateway.flush('call-finish');
        else if (part.type === 'error') gateway.flush('all');
        else if (part.type !== 'start' && part.type !== 'start-step') gateway.flush('call-start');
        if (part.type === 'start-step') {
          step++;
          stepText = '';
          log.emit(path, { type: 'step-start', step });
          gateway.flush('call-start');
        } else if (part.type === 'text-delta') {
          stepText += part.text;
          partial += part.text;
          log.emit(path, { type: 'token-delta', delta: part.text });
        } else if (part.type === 'finish-step') {
          stepFinished(part.finishReason, stepText, part.providerMetadata);
        } else if (part.type === 'tool-error') {
          invalidToolCall(part);
        } else if (part.type === 'error') {
          failure = part.error;
        }
      }
      if (failure === undefined && !skillAbort.error && !signal.aborted) {
        text = await result.text;
        finishReason = await result.finishReason;
      }
    }
    gateway.flush('all');
    if (skillAbort.error) throw skillAbort.error;
    if (failure !== undefined) {
      const error = toProviderError(unwrapRetry(failure), agent.model, turn.redactor, signal);
      log.emit(path, { type: 'step-error', step, error: eventError(error) });
      throw error;
    }
    signal.throwIfAborted();
    const output = text.trim();
    const maxSteps = agent.maxSteps ?? 5;
    if (finishReason === 'length') {
      throw new HarnessError(
        'limit_exceeded',
        `agent "${agent.name}" hit its output token limit mid-answer`,
        {
          hint: 'raise max_tokens for this agent (or max_output_tokens of its model), or ask for a shorter answer',
          details: { limit: 'max_tokens', value: agent.maxTokens ?? null, partialOutput: output },
        },
      );
    }
    if (finishReason === 'tool-calls') {
      // The loop ended on max_steps while the model still wanted tools: fail loudly, keep the partial output.
      throw new HarnessError(
        'limit_exceeded',
        `agent "${agent.name}" used all ${maxSteps} steps (max_steps) and was still calling tools`,
        {
          hint: 'raise max_steps for this agent, or give its model fewer or clearer tools',
          details: { limit: 'max_steps', value: maxSteps, partialOutput: output },
        },
      );
    }
    await memory.append(agentNs, { role: 'user', content: turn.input }, { signal });
    await memory.append(agentNs, { role: 'assistant', content: output }, { signal });
    log.emit(path, {
      type: 'agent-finish',
      agent: agent.name,
      output,
      usage: { ...usage },
      durationMs: Date.now() - started,
    });
    return {
      output,
      model: gateway.answeredBy() ?? agent.model,
      usage,
      steps: step,
      toolErrors: counts.toolErrors,
      ...(agreement === undefined ? {} : { agreement }),
    };
  } catch (error) {
    // Failures that are not ours yet (a stream the AI SDK could not read, say) come from the
    // provider side: map them like provider errors, with secrets redacted.
    const e = signal.aborted
      ? new HarnessError('aborted', `agent "${agent.name}" was aborted`, { cause: signal.reason })
      : HarnessError.isInstance(error)
        ? error
        : toProviderError(unwrapRetry(error), agent.model, turn.redactor, signal);
    log.emit(path, { type: 'agent-error', agent: agent.name, error: eventError(e) });
    throw e;
  } finally {
    unlinkRun?.();
  }
}

/**
 * Whether a model of the chain (or an ensemble member) has settings that measure the time to the
 * first token of a stream — connect, first-token or between-tokens timeouts, hedging, a latency
 * threshold. Without a stream they would measure the whole answer instead (a 300 ms first-token
 * timeout would end every answer longer than that), so a turn on such a model streams even when
 * nobody watches the run.
 */
function measuresFirstToken(registry: ModelRegistry, ids: readonly string[], depth = 0): boolean {
  for (const id of ids) {
    if (!registry.has(id)) continue;
    const plan = registry.plan(id);
    const t = plan.timeouts;
    if (t && (t.connectMs !== undefined || t.firstTokenMs !== undefined || t.betweenTokensMs !== undefined)) {
      return true;
    }
    if (plan.hedge !== undefined || plan.entry.latencyThresholdMs !== undefined) return true;
    const members = plan.entry.ensemble?.members;
    if (members && depth < 4 && measuresFirstToken(registry, members, depth + 1)) return true;
  }
  return false;
}

function unwrapRetry(error: unknown): unknown {
  const last = (error as { lastError?: unknown } | null)?.lastError;
  return last ?? error;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The agent's skills as AI SDK tools, each call reported as tool-call events and journaled. */
function toolsFor(
  turn: AgentTurn,
  councilNs: MemoryNamespace,
  deps: CallDeps,
  reported: Set<string>,
  skillAbort: { error?: HarnessError; stop: AbortController },
  counts: { toolErrors: number },
): ToolSet {
  const tools: ToolSet = {};
  const contextFor = (toolCallId: string, signal: AbortSignal): SkillContext => ({
    runId: turn.runId,
    path: turn.path,
    council: turn.council,
    agent: turn.agent.name,
    model: turn.agent.model,
    memory: turn.memory,
    namespace: councilNs,
    idempotencyKey: `${turn.runId}/${turn.key}/${toolCallId}`,
    signal,
    // deps.charge charges the turn with every call, including ones that then fail.
    callLlm: (options) =>
      callLlm(deps, {
        ...options,
        model: options.model ?? turn.agent.model,
        ...(options.model === undefined && turn.agent.fallback ? { fallback: turn.agent.fallback } : {}),
        signal: options.signal ?? signal,
      }),
    spawn: (request) => turn.spawn(request, toolCallId),
    emit: (event) => turn.log.emit(turn.path, event),
  });
  const journaled =
    (name: string, run: (input: unknown, context: SkillContext) => Promise<unknown>) =>
    async (
      input: unknown,
      { toolCallId, abortSignal }: { toolCallId: string; abortSignal?: AbortSignal },
    ) => {
      const key = `${turn.key}/tool:${toolCallId}`;
      const recorded = turn.journal?.step(turn.runId, key);
      reported.add(toolCallId);
      if (recorded) {
        // Effects once: a tool call that finished before a crash is not run again.
        turn.log.emit(turn.path, { type: 'step-replayed', key });
        return recorded.output;
      }
      const started = Date.now();
      turn.log.emit(turn.path, { type: 'tool-call-start', tool: name, toolCallId, input });
      const signal = abortSignal ?? turn.signal;
      let output: unknown;
      try {
        output = await run(input, contextFor(toolCallId, signal));
        turn.log.emit(turn.path, {
          type: 'tool-call-finish',
          tool: name,
          toolCallId,
          output,
          durationMs: Date.now() - started,
        });
      } catch (error) {
        const e = signal.aborted
          ? new HarnessError('aborted', `skill "${name}" was aborted`, { cause: signal.reason })
          : toHarnessError(error, 'skill_failed');
        counts.toolErrors++;
        turn.log.emit(turn.path, {
          type: 'tool-call-error',
          tool: name,
          toolCallId,
          error: eventError(e),
          durationMs: Date.now() - started,
        });
        // An abort or a run limit ends the turn; the AI SDK would hand a thrown error back to
        // the model, so it is recorded and raised once the stream ends.
        if (e.code === 'aborted' || isRunLimit(e)) {
          skillAbort.error = e;
          skillAbort.stop.abort(e);
          return { error: { code: e.code, message: e.message } };
        }
        // Otherwise the model sees the failure and can recover; the run goes on.
        output = { error: { code: e.code, message: e.message } };
      }
      turn.journal?.recordStep(turn.runId, { key, kind: 'tool', output });
      return output;
    };
  for (const skill of turn.skills) {
    tools[skill.name] = tool({
      description: skill.description,
      inputSchema: skill.inputSchema,
      execute: journaled(skill.name, (input, context) => Promise.resolve(skill.run(input as never, context))),
    });
  }
  const subagents = turn.agent.subagents ?? [];
  if (subagents.length > 0) {
    tools.spawn_agent = tool({
      description: `Hands a sub-task to another agent and returns its answer (status, output or error). Agents: ${subagents.join(', ')}.`,
      inputSchema: z.object({
        agent: z.enum(subagents as [string, ...string[]]).describe('Which agent does the sub-task.'),
        input: z.string().min(1).describe('The sub-task, self-contained: the agent sees nothing else.'),
      }),
      execute: journaled('spawn_agent', async (input, context) => {
        const request = input as { agent: string; input: string };
        return context.spawn(request);
      }),
    });
  }
  return tools;
}
