/**
 * One agent turn: load the agent's thread from memory, run the model/tool loop through the
 * gateway (streaming, so token deltas reach the events), save the exchange, report usage.
 */
import { isStepCount, type ModelMessage, streamText, type ToolSet, tool } from 'ai';
import { HarnessError, toHarnessError } from '../errors.ts';
import { createGatewayModel, type RetryPolicy } from '../gateway/gateway-model.ts';
import { toProviderError } from '../gateway/provider-error.ts';
import type { Memory, MemoryNamespace } from '../memory/index.ts';
import type { Redactor } from '../models/credentials.ts';
import type { ModelRegistry } from '../models/registry.ts';
import { type CallDeps, callLlm } from './call-llm.ts';
import { addUsage, type EventError, type EventLog, emptyUsage, type Usage } from './events.ts';
import type { AnySkill, SkillContext } from './skill.ts';
import type { AgentSpec } from './spec.ts';

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
  /** The run's totals: this turn's usage is added to it whether the turn succeeds or fails. */
  runUsage: Usage;
  retry?: Partial<RetryPolicy>;
}

export interface AgentTurnResult {
  output: string;
  model: string;
  usage: Usage;
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

    const gateway = createGatewayModel({
      registry: turn.registry,
      chain: [agent.model, ...(agent.fallback ?? [])],
      log,
      path,
      charge: [usage],
      redactor: turn.redactor,
      deferEvents: true,
      ...(turn.retry === undefined ? {} : { retry: turn.retry }),
    });
    const deps: CallDeps = {
      registry: turn.registry,
      redactor: turn.redactor,
      log,
      path,
      usage,
      ...(turn.retry === undefined ? {} : { retry: turn.retry }),
    };
    const reported = new Set<string>();
    // An aborted skill stops the turn at once (no further model call), through the stream's signal.
    const stopTurn = new AbortController();
    const skillAbort: { error?: HarnessError; stop: AbortController } = { stop: stopTurn };
    const tools = toolsFor(turn, councilNs, deps, reported, skillAbort);

    let failure: unknown;
    let step = 0;
    const result = streamText({
      model: gateway,
      messages,
      maxRetries: 0,
      abortSignal: AbortSignal.any([signal, stopTurn.signal]),
      stopWhen: isStepCount(agent.maxSteps ?? 5),
      ...(instructions ? { instructions } : {}),
      ...(agent.maxTokens === undefined ? {} : { maxOutputTokens: agent.maxTokens }),
      ...(agent.temperature === undefined ? {} : { temperature: agent.temperature }),
      ...(Object.keys(tools).length ? { tools } : {}),
      onError: ({ error }) => {
        failure = error;
      },
    });
    let stepText = '';
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
        log.emit(path, { type: 'token-delta', delta: part.text });
      } else if (part.type === 'finish-step') {
        log.emit(path, { type: 'step-finish', step, finishReason: part.finishReason, text: stepText });
      } else if (part.type === 'tool-error' && !reported.has(part.toolCallId)) {
        // Input the model sent that failed the skill's schema never reaches execute(); the
        // AI SDK hands the validation message back to the model, and we report it here.
        log.emit(path, {
          type: 'tool-call-error',
          tool: part.toolName,
          toolCallId: part.toolCallId,
          error: eventError(new HarnessError('skill_input_invalid', errorText(part.error))),
          durationMs: 0,
        });
      } else if (part.type === 'error') {
        failure = part.error;
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
    const output = (await result.text).trim();
    const maxSteps = agent.maxSteps ?? 5;
    const finishReason = await result.finishReason;
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
    return { output, model: gateway.answeredBy() ?? agent.model, usage };
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
    // Failed and aborted turns cost too: what their model calls used counts in the run's totals.
    addUsage(turn.runUsage, usage);
  }
}

function unwrapRetry(error: unknown): unknown {
  const last = (error as { lastError?: unknown } | null)?.lastError;
  return last ?? error;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The agent's skills as AI SDK tools, each call reported as tool-call events. */
function toolsFor(
  turn: AgentTurn,
  councilNs: MemoryNamespace,
  deps: CallDeps,
  reported: Set<string>,
  skillAbort: { error?: HarnessError; stop: AbortController },
): ToolSet {
  const tools: ToolSet = {};
  for (const skill of turn.skills) {
    tools[skill.name] = tool({
      description: skill.description,
      inputSchema: skill.inputSchema,
      execute: async (input: unknown, { toolCallId, abortSignal }) => {
        const started = Date.now();
        reported.add(toolCallId);
        turn.log.emit(turn.path, { type: 'tool-call-start', tool: skill.name, toolCallId, input });
        const signal = abortSignal ?? turn.signal;
        const context: SkillContext = {
          runId: turn.runId,
          path: turn.path,
          council: turn.council,
          agent: turn.agent.name,
          model: turn.agent.model,
          memory: turn.memory,
          namespace: councilNs,
          idempotencyKey: `${turn.runId}/${turn.path.join('/')}/${toolCallId}`,
          signal,
          // deps.usage charges the turn with every call, including ones that then fail.
          callLlm: (options) =>
            callLlm(deps, {
              ...options,
              model: options.model ?? turn.agent.model,
              ...(options.model === undefined && turn.agent.fallback
                ? { fallback: turn.agent.fallback }
                : {}),
              signal: options.signal ?? signal,
            }),
        };
        try {
          const output = await skill.run(input as never, context);
          turn.log.emit(turn.path, {
            type: 'tool-call-finish',
            tool: skill.name,
            toolCallId,
            output,
            durationMs: Date.now() - started,
          });
          return output;
        } catch (error) {
          const e = toHarnessError(error, 'skill_failed');
          turn.log.emit(turn.path, {
            type: 'tool-call-error',
            tool: skill.name,
            toolCallId,
            error: eventError(e),
            durationMs: Date.now() - started,
          });
          // An aborted skill ends the turn (abort is terminal); the AI SDK would hand a thrown
          // error back to the model, so it is recorded and raised once the stream ends.
          if (e.code === 'aborted') {
            skillAbort.error = e;
            skillAbort.stop.abort(e);
          }
          // Otherwise the model sees the failure and can recover; the run goes on.
          return { error: { code: e.code, message: e.message } };
        }
      },
    });
  }
  return tools;
}
