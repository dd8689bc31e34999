/** Plain, serialisable descriptions of councils and agents: what YAML loads into and what the TS API builds. */
import type { RunLimits } from './budget.ts';
import type { Priority } from './scheduler/types.ts';

export type RecursionFallback = 'ReAsk' | 'Escalate' | 'BestSoFar' | 'Fail';

export interface RecursionPolicySpec {
  /** Deepest sub-agent level below the council's agents (default 3). */
  maxDepth: number;
  /** Conditions over a step's result fields, e.g. `confidence < 0.6`. */
  triggerOn: string[];
  fallback: RecursionFallback;
}

export interface AgentSpec {
  name: string;
  /** A model id from the registry. */
  model: string;
  /** Model ids tried in order when `model` fails with any error but an abort. */
  fallback?: string[];
  /** System prompt. */
  instructions?: string;
  /** Skill names resolved from the skill registry. */
  skills?: string[];
  maxTokens?: number;
  temperature?: number;
  /** Model/tool loop steps per turn (default 5). */
  maxSteps?: number;
  /** What this agent is for, in one line: a `router` council's model picks agents by it. */
  description?: string;
  /**
   * `graph` councils only: agents of the same council this one runs after; its input is the run
   * input plus their labelled outputs.
   */
  dependsOn?: string[];
  /** `vote` councils only: the weight of this agent's vote, a positive number (default 1). */
  weight?: number;
  /**
   * Agents of the same council this one may hand sub-tasks to: its model gets a `spawn_agent`
   * tool naming them. Sub-agents share the run's budget and go one level deeper each time.
   */
  subagents?: string[];
  /**
   * Where the agent's confidence (0..1) comes from, for `trigger_on` conditions: `self_rating` (the
   * agent ends its answer with `Confidence: 0.8`, stripped from the output) or `structured` (the
   * answer is JSON with a `confidence` field). Default: `self_rating` when a trigger reads
   * `confidence`, else none.
   */
  confidence?: 'self_rating' | 'structured';
  /** The stronger model a recursion fallback `Escalate` hands the step to (default: the first fallback model). */
  escalateTo?: string;
}

export interface KnowledgeDocument {
  /** Stable id; defaults to a hash of the text so restarts do not duplicate. */
  id?: string;
  text: string;
  meta?: Record<string, string | number | boolean>;
}

/** How a council's agents cooperate; see docs/councils.md. */
export type CouncilStrategy = 'pipeline' | 'parallel' | 'vote' | 'debate' | 'router' | 'graph';

/**
 * How a vote picks its winner: `majority` groups identical answers (outer whitespace ignored),
 * `normalized` groups answers equal up to case, whitespace and punctuation, `judge` lets the
 * judge agent pick one.
 */
export type VoteRule = 'majority' | 'normalized' | 'judge';

/** Options of a `vote` council. */
export interface VoteSpec {
  /** Default `judge` when `judge` is set, else `majority`. */
  rule?: VoteRule;
  /**
   * Weighted votes that must agree on one answer. The vote ends as soon as they do (the voters
   * still running are cancelled) and fails when they no longer can. Default: no quorum — every
   * voter answers and the heaviest answer wins. Not with rule `judge`.
   */
  quorum?: number;
  /** Rule `judge`: the council agent that picks the winning answer (it does not vote). */
  judge?: string;
}

/** Options of a `debate` council. */
export interface DebateSpec {
  /** Rounds of answers, 1..20 (default 2). From round 2 each debater sees the others' previous answers. */
  rounds?: number;
  /** The council agent that reads the debate and gives the final answer (it does not debate). */
  judge: string;
}

/** A rule of a `router` council: inputs matching `when` go to `agent`. */
export interface RouteSpec {
  /** A regular expression, tested case-insensitively against the run input. */
  when: string;
  /** The council agent that answers. */
  agent: string;
}

/** Options of a `router` council. Rules are tried first, then the model, then `default`. */
export interface RouterSpec {
  /** Tried in order; the first match routes. */
  routes?: RouteSpec[];
  /** A model id that picks an agent by name from the agents' descriptions when no rule matches. */
  model?: string;
  /** The agent used when nothing else picks one (default: the council's first agent). */
  default?: string;
}

export interface CouncilSpec {
  name: string;
  description?: string;
  /** Default `pipeline`. */
  strategy?: CouncilStrategy;
  /** `parallel` only: the agent that merges the other agents' outputs (default: outputs joined). */
  merge?: string;
  /** `vote` only. */
  vote?: VoteSpec;
  /** `debate` only (required there: it names the judge). */
  debate?: DebateSpec;
  /** `router` only (required there). */
  router?: RouterSpec;
  /** `graph` only: the agent whose output is the council's (default: the sink, or all sinks joined). */
  output?: string;
  /** Memory URL (default: the harness memory). */
  memory?: string;
  /** Model id whose embeddings give the council memory semantic recall. */
  embeddingModel?: string;
  recursionDepth?: number;
  recursion?: Partial<RecursionPolicySpec>;
  /** Limits of every run of this council, shared by its agents and their sub-agents (see `RunLimits`). */
  limits?: RunLimits;
  /** Documents remembered in the council memory at start (idempotent), for the Search skill. */
  knowledge?: Array<string | KnowledgeDocument>;
  /** Scheduling priority of its runs when a scheduler is configured (default `normal`; a run's own wins). */
  priority?: Priority;
  agents: AgentSpec[];
}

export interface TelemetrySpec {
  exporter?: 'otlp' | 'console' | 'none';
  endpoint?: string;
  serviceName?: string;
}
