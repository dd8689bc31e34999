/**
 * The council executor: runs a council's strategy over a run scope, and every agent step of it
 * (journal replay, budget, recursion policy, sub-agents). One `RunScope` is shared by the whole
 * run tree: the run's agents and every sub-agent they spawn see the same budget, journal and
 * signal.
 */
import { createHash } from 'node:crypto';
import { HarnessError, toHarnessError } from '../errors.ts';
import type { RetryPolicy } from '../gateway/gateway-model.ts';
import type { CallLimiter } from '../gateway/limiter.ts';
import type { Memory } from '../memory/index.ts';
import type { Redactor } from '../models/credentials.ts';
import type { ModelRegistry } from '../models/registry.ts';
import { Agent } from './agent.ts';
import {
  type AgentTurnResult,
  eventError,
  runAgentTurn,
  type SpawnRequest,
  type SubAgentResult,
} from './agent-run.ts';
import { type Budget, isRunLimit } from './budget.ts';
import { extractConfidence, selfRatingInstruction } from './confidence.ts';
import type { Council } from './council.ts';
import { addUsage, type EventLog, emptyUsage, type Usage } from './events.ts';
import type { RunJournal } from './journal.ts';
import type { AgentOutcome } from './run.ts';
import type { AnySkill } from './skill.ts';
import type { AgentSpec } from './spec.ts';
import { strategies } from './strategies/index.ts';
import type {
  AgentStepResult,
  CouncilContext,
  Decision,
  JsonValue,
  StrategyResult,
} from './strategies/types.ts';
import type { Trigger, TriggerFields } from './trigger-expr.ts';

/** Everything a run tree shares. */
export interface RunScope {
  runId: string;
  log: EventLog;
  journal: RunJournal | undefined;
  budget: Budget;
  /** The run's signal: the caller's abort, or a limit that ended the run. */
  signal: AbortSignal;
  /** Ends the whole run tree (a run limit was reached). */
  end(reason: HarnessError): void;
  registry: ModelRegistry;
  redactor: Redactor;
  retry: Partial<RetryPolicy> | undefined;
  limiter: CallLimiter | undefined;
  memory: Memory;
  tenant: string;
  /** The skills an agent uses, resolved by name. */
  skillsOf(agent: Agent): AnySkill[];
  /** Outcomes of the council's own agents (and sub-agents), in finishing order. */
  outcomes: AgentOutcome[];
  /** The latest finished agent output, for a limit's partial output. */
  lastOutput: string;
  /** Stream model answers (token-delta events), one non-streaming call per step, or `auto` (see RunOptions.stream). */
  stream: boolean | 'auto';
}

/** Where a step sits in the run tree. */
interface StepPlace {
  council: Council;
  key: string;
  path: readonly string[];
  depth: number;
  /** Usage accumulators of the enclosing steps and the run, outermost last. */
  charge: readonly Usage[];
  /** `agent\0inputHash` of every ancestor step, for the loop guard. */
  ancestors: readonly string[];
  signal: AbortSignal;
}

/** Runs `council`'s strategy on `input`. */
export async function executeCouncil(
  scope: RunScope,
  council: Council,
  input: string,
  path: readonly string[],
): Promise<StrategyResult> {
  const strategy = strategies[council.strategy as keyof typeof strategies];
  if (!strategy) {
    throw new HarnessError(
      'config_invalid',
      `council "${council.name}" has unknown strategy "${council.strategy}"`,
      {
        hint: `use one of: ${Object.keys(strategies).join(', ')}`,
      },
    );
  }
  const keys = new Set<string>();
  const prefix = path.join('/');
  const triggers = council.recursion?.triggers ?? [];
  const context: CouncilContext = {
    council,
    input,
    path,
    signal: scope.signal,
    runAgent: (agent, stepInput, options = {}) => {
      const key = `${prefix}/${options.key ?? agent.name}`;
      if (keys.has(key)) {
        throw new HarnessError(
          'internal',
          `strategy "${council.strategy}" ran two steps with the key "${key}"`,
          {
            hint: 'give each runAgent call of one council its own StepOptions.key',
          },
        );
      }
      keys.add(key);
      const signal = options.signal ? AbortSignal.any([scope.signal, options.signal]) : scope.signal;
      return runStep(scope, agent, stepInput, triggers, {
        council,
        key,
        path: [...path, agent.name],
        depth: 0,
        charge: [scope.budget.usage],
        ancestors: [],
        signal,
      });
    },
    decide: <T extends JsonValue>(key: string, kind: string, decide: () => Promise<Decision<T>>) =>
      decideOnce(scope, `${prefix}/decision:${key}`, path, kind, decide),
  };
  return strategy(context);
}

async function decideOnce<T extends JsonValue>(
  scope: RunScope,
  key: string,
  path: readonly string[],
  kind: string,
  decide: () => Promise<Decision<T>>,
): Promise<T> {
  const recorded = scope.journal?.step(scope.runId, key);
  if (recorded) {
    const d = recorded.output as Decision<T>;
    scope.log.emit(path, { type: 'step-replayed', key });
    scope.log.emit(path, {
      type: 'decision',
      kind,
      chosen: d.chosen,
      reason: d.reason,
      detail: { ...d.detail, replayed: true },
    });
    return d.value;
  }
  const d = await decide();
  scope.journal?.recordStep(scope.runId, { key, kind: 'decision', output: d });
  scope.log.emit(path, {
    type: 'decision',
    kind,
    chosen: d.chosen,
    reason: d.reason,
    ...(d.detail === undefined ? {} : { detail: d.detail }),
  });
  return d.value;
}

interface RecordedStep {
  agent: string;
  model: string;
  output: string;
  confidence?: number;
}

/**
 * One agent step: replayed from the journal when it finished before, else the agent's turn,
 * then the recursion policy's triggers (ReAsk, Escalate, BestSoFar, Fail) as child steps.
 */
async function runStep(
  scope: RunScope,
  agent: Agent,
  input: string,
  triggers: readonly Trigger[],
  place: StepPlace,
): Promise<AgentStepResult> {
  const recorded = scope.journal?.step(scope.runId, place.key);
  if (recorded) {
    const step = recorded.output as RecordedStep;
    const usage = recorded.usage ?? emptyUsage();
    for (const total of place.charge) addUsage(total, usage);
    scope.log.emit(place.path, { type: 'step-replayed', key: place.key });
    return finish(scope, { ...step, usage });
  }
  const usage = emptyUsage();
  const charge = [usage, ...place.charge];
  const policy = place.council.recursion;
  const readsConfidence = triggers.some((t) => t.fields.includes('confidence'));
  // An ensemble's agreement is its confidence; other models rate themselves when a trigger asks.
  const ensemble = scope.registry.has(agent.model) && scope.registry.entry(agent.model).type === 'ensemble';
  const source = agent.spec.confidence ?? (readsConfidence && !ensemble ? 'self_rating' : undefined);
  let attempt = 1;
  let current = await turn(scope, agent, agent.spec, input, source, { ...place, charge }, place.key);
  let best = current;
  while (policy && triggers.length > 0) {
    const fields: TriggerFields = {
      ...(current.confidence === undefined ? {} : { confidence: current.confidence }),
      output: current.output,
      output_length: current.output.length,
      steps: current.turn.steps,
      tool_errors: current.turn.toolErrors,
      input_tokens: current.turn.usage.inputTokens,
      output_tokens: current.turn.usage.outputTokens,
      cost_usd: current.turn.usage.costUsd,
      depth: place.depth + attempt - 1,
      attempt,
    };
    const fired = triggers.find((t) => t.test(fields));
    if (!fired) break;
    const depth = place.depth + attempt;
    const reason = `trigger "${fired.source}" fired (${fired.fields.map((f) => `${f}=${show(fields[f as keyof TriggerFields])}`).join(', ')})`;
    if (policy.fallback === 'Fail') {
      scope.log.emit(place.path, { type: 'decision', kind: 'trigger', chosen: 'Fail', reason });
      throw new HarnessError(
        'trigger_failed',
        `agent "${agent.name}": ${reason}; the recursion policy says Fail`,
        {
          hint: 'use fallback ReAsk, Escalate or BestSoFar to try again, or loosen trigger_on',
          details: { agent: agent.name, trigger: fired.source, partialOutput: current.output },
        },
      );
    }
    if (depth > policy.maxDepth) {
      const kept = policy.fallback === 'BestSoFar' ? best : current;
      scope.log.emit(place.path, {
        type: 'decision',
        kind: 'trigger',
        chosen: 'keep',
        reason: `${reason}; max depth ${policy.maxDepth} reached, keeping the ${policy.fallback === 'BestSoFar' ? 'best' : 'last'} answer`,
      });
      current = kept;
      break;
    }
    let spec: AgentSpec = agent.spec;
    if (policy.fallback === 'Escalate') {
      const stronger = agent.spec.escalateTo ?? agent.spec.fallback?.[0];
      if (stronger === undefined) {
        throw new HarnessError(
          'trigger_failed',
          `agent "${agent.name}": ${reason}, and it has no model to escalate to`,
          {
            hint: 'set escalate_to (or a fallback model) on the agent, or use fallback ReAsk',
            details: { agent: agent.name, trigger: fired.source, partialOutput: current.output },
          },
        );
      }
      spec = {
        ...agent.spec,
        model: stronger,
        fallback: agent.spec.fallback?.filter((m) => m !== stronger) ?? [],
      };
    }
    scope.log.emit(place.path, {
      type: 'decision',
      kind: 'trigger',
      chosen: policy.fallback === 'Escalate' ? `Escalate to ${spec.model}` : policy.fallback,
      reason,
    });
    attempt++;
    const critique = `${input}\n\nYour previous answer was:\n${current.output}\n\nIt was not good enough (${reason}). Answer again, better.`;
    const childPath = [...place.path, `${agent.name}#${attempt}`];
    scope.log.emit(place.path, {
      type: 'subagent-spawn',
      agent: `${agent.name}#${attempt}`,
      depth,
      input: critique,
    });
    current = await turn(
      scope,
      agent,
      spec,
      critique,
      source,
      { ...place, path: childPath, depth, charge },
      `${place.key}/attempt${attempt}`,
    );
    if ((current.confidence ?? 0) > (best.confidence ?? 0)) best = current;
  }
  const result: RecordedStep = {
    agent: agent.name,
    model: current.model,
    output: current.output,
    ...(current.confidence === undefined ? {} : { confidence: current.confidence }),
  };
  scope.journal?.recordStep(scope.runId, { key: place.key, kind: 'agent', output: result, usage });
  return finish(scope, { ...result, usage });
}

function finish(scope: RunScope, step: RecordedStep & { usage: Usage }): AgentStepResult {
  scope.outcomes.push({ name: step.agent, model: step.model, output: step.output });
  scope.lastOutput = step.output;
  return step;
}

interface TurnOutcome {
  output: string;
  model: string;
  confidence?: number;
  turn: AgentTurnResult;
}

async function turn(
  scope: RunScope,
  agent: Agent,
  spec: AgentSpec,
  input: string,
  confidence: 'self_rating' | 'structured' | undefined,
  place: StepPlace,
  key: string,
): Promise<TurnOutcome> {
  const instructions =
    confidence === 'self_rating'
      ? [spec.instructions, selfRatingInstruction].filter(Boolean).join('\n\n')
      : spec.instructions;
  const self = `${spec.name}\u0000${hash(input)}`;
  const result = await runAgentTurn({
    runId: scope.runId,
    council: place.council.name,
    agent: { ...spec, ...(instructions === undefined ? {} : { instructions }) },
    skills: scope.skillsOf(agent),
    input,
    path: place.path,
    registry: scope.registry,
    redactor: scope.redactor,
    log: scope.log,
    memory: scope.memory,
    tenant: scope.tenant,
    signal: place.signal,
    charge: place.charge,
    key,
    journal: scope.journal,
    budget: scope.budget,
    ...(scope.retry === undefined ? {} : { retry: scope.retry }),
    ...(scope.limiter === undefined ? {} : { limiter: scope.limiter }),
    partialOutput: () => scope.lastOutput,
    stream: scope.stream,
    spawn: (request, toolCallId) =>
      spawn(scope, request, toolCallId, { ...place, key, ancestors: [...place.ancestors, self] }),
  });
  if (!confidence) {
    return {
      output: result.output,
      model: result.model,
      turn: result,
      ...(result.agreement === undefined ? {} : { confidence: result.agreement }),
    };
  }
  const read = extractConfidence(result.output, confidence);
  return {
    output: read.output,
    model: result.model,
    turn: result,
    ...(read.confidence === undefined ? {} : { confidence: read.confidence }),
  };
}

/**
 * A sub-agent: an agent of the same council (by name) or an ad-hoc agent, one level deeper,
 * sharing the run's budget. Its failure comes back to the parent as a typed result; only a run
 * limit or an abort ends the run.
 */
async function spawn(
  scope: RunScope,
  request: SpawnRequest,
  toolCallId: string,
  parent: StepPlace,
): Promise<SubAgentResult> {
  const council = parent.council;
  const depth = parent.depth + 1;
  const maxDepth = council.recursion?.maxDepth ?? 3;
  let agent: Agent;
  if (typeof request.agent === 'string') {
    const found = council.agents.find((a) => a.name === request.agent);
    if (!found) {
      return failed(
        new HarnessError(
          'config_invalid',
          `no agent "${request.agent}" in council "${council.name}" to spawn`,
          {
            hint: `spawn one of: ${council.agents.map((a) => a.name).join(', ')}`,
          },
        ),
      );
    }
    agent = found;
  } else {
    agent = request.agent instanceof Agent ? request.agent : new Agent(request.agent);
  }
  if (depth > maxDepth) {
    scope.log.emit(parent.path, {
      type: 'limit-exceeded',
      limit: 'maxDepth',
      limitValue: maxDepth,
      used: depth,
    });
    return failed(
      new HarnessError(
        'limit_exceeded',
        `spawning "${agent.name}" would go ${depth} levels deep; the recursion policy allows ${maxDepth}`,
        {
          hint: 'answer without a sub-agent, or raise recursion max_depth',
          details: { limit: 'maxDepth', limitValue: maxDepth, used: depth },
        },
      ),
    );
  }
  scope.budget.checkDepth(depth, scope.lastOutput);
  const me = `${agent.name}\u0000${hash(request.input)}`;
  if (parent.ancestors.includes(me)) {
    const chain = [...parent.path.slice(1), agent.name].join(' -> ');
    return failed(
      new HarnessError(
        'recursion_loop',
        `spawning "${agent.name}" with the same input as an ancestor would loop (${chain})`,
        {
          hint: 'give the sub-agent a narrower input, or answer without spawning',
          details: { agent: agent.name, path: [...parent.path] },
        },
      ),
    );
  }
  scope.log.emit(parent.path, { type: 'subagent-spawn', agent: agent.name, depth, input: request.input });
  const triggers = council.recursion?.triggers ?? [];
  try {
    const step = await runStep(scope, agent, request.input, triggers, {
      council,
      key: `${parent.key}/spawn:${toolCallId}`,
      path: [...parent.path, agent.name],
      depth,
      charge: parent.charge,
      ancestors: parent.ancestors,
      signal: parent.signal,
    });
    return {
      status: 'succeeded',
      agent: agent.name,
      output: step.output,
      ...(step.confidence === undefined ? {} : { confidence: step.confidence }),
    };
  } catch (error) {
    const e = toHarnessError(error);
    if (e.code === 'aborted' || isRunLimit(e)) throw e;
    return failed(e, agent.name);
  }
}

function failed(error: HarnessError, agent?: string): SubAgentResult {
  return { status: 'failed', ...(agent === undefined ? {} : { agent }), error: eventError(error) };
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

function show(value: unknown): string {
  return typeof value === 'number' ? String(Math.round(value * 1000) / 1000) : JSON.stringify(value ?? null);
}
