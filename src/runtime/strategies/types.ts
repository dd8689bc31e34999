/**
 * The contract between the council executor and a strategy. A strategy decides which agents
 * run, in what order and on what input; the executor runs each agent step (journal, budget,
 * events, recursion policy) and records decisions. Strategies never call models directly: every
 * model call goes through `runAgent`, so it is journaled, budgeted and replayed on resume.
 */
import type { Agent } from '../agent.ts';
import type { Council } from '../council.ts';
import type { Usage } from '../events.ts';

/** The result of one agent step. */
export interface AgentStepResult {
  agent: string;
  /** Registry id of the model that answered (after any fallback or escalation). */
  model: string;
  output: string;
  /** 0..1 when known: a self-rating or structured-output field of the agent's answer. */
  confidence?: number;
  /** This step's usage (its sub-agents included). */
  usage: Usage;
}

export interface StepOptions {
  /**
   * Names this step in the journal; unique within one council execution and the same on every
   * execution of the same run (default: the agent's name). A debate uses `Pro#round2`, say.
   */
  key?: string;
  /** Cancels this step only (e.g. the voters still running when a vote has its quorum). */
  signal?: AbortSignal;
}

/** A JSON value: what a decision records. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** What a strategy decided, for the `decision` event and `forge explain`. */
export interface Decision<T extends JsonValue> {
  value: T;
  /** One human line: why. */
  reason: string;
  /** Short label of what was chosen (an agent name, an answer excerpt). */
  chosen: string;
  detail?: Record<string, JsonValue>;
}

export type DecisionKind = 'route' | 'vote' | 'merge' | 'judge' | 'graph';

export interface CouncilContext {
  readonly council: Council;
  /** The run's input. */
  readonly input: string;
  /** The council's path in the run tree (`[council]`, deeper for a council run as a sub-agent). */
  readonly path: readonly string[];
  /** The run's signal: aborted when the run is cancelled or a limit ends it. */
  readonly signal: AbortSignal;
  /**
   * Runs one agent step on `input`. Journaled: when the run is resumed, a step that finished
   * returns its recorded result without calling a model. Throws a `HarnessError` on failure.
   */
  runAgent(agent: Agent, input: string, options?: StepOptions): Promise<AgentStepResult>;
  /**
   * Records a decision as a `decision` event and in the journal. On resume the recorded decision
   * is returned and `decide` is not called, so a resumed run takes the same path.
   */
  decide<T extends JsonValue>(
    key: string,
    kind: DecisionKind,
    decide: () => Promise<Decision<T>>,
  ): Promise<T>;
}

/** What a council produced. */
export interface StrategyResult {
  output: string;
  /** 0..1 when the strategy measures it (a vote's agreement). */
  confidence?: number;
}

export type Strategy = (context: CouncilContext) => Promise<StrategyResult>;
