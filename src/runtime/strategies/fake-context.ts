/**
 * A `CouncilContext` over scripted answers, for unit tests of strategies: no models, no
 * executor. It keeps what a strategy did in order (`log`: `start:A`, `finish:A`, `abort:A`,
 * `fail:A`, `decide:route`), checks step keys are unique like the executor does, honours step
 * and run signals, and can replay recorded decisions as a resumed run would.
 */
import { HarnessError } from '../../errors.ts';
import type { Agent } from '../agent.ts';
import type { Council } from '../council.ts';
import { emptyUsage } from '../events.ts';
import type {
  AgentStepResult,
  CouncilContext,
  Decision,
  DecisionKind,
  JsonValue,
  StepOptions,
} from './types.ts';

/** One `runAgent` call as the script sees it. */
export interface FakeCall {
  agent: string;
  input: string;
  key: string;
  /** Aborted when the step is cancelled (its own signal or the run's). */
  signal: AbortSignal;
}

/**
 * Answers a call: a string is the agent's output; a thrown error fails the step. May wait (for
 * a gate, say); the fake rejects the step as soon as its signal fires, whatever the answer does.
 */
export type FakeAnswer = (call: FakeCall) => string | Promise<string>;

/** A recorded decision. */
export interface FakeDecision {
  key: string;
  kind: DecisionKind;
  decision: Decision<JsonValue>;
}

export class FakeCouncilContext implements CouncilContext {
  readonly council: Council;
  readonly input: string;
  readonly path: readonly string[];
  readonly signal: AbortSignal;
  /** What happened, in order. */
  readonly log: string[] = [];
  readonly calls: FakeCall[] = [];
  readonly decisions: FakeDecision[] = [];
  readonly #answer: FakeAnswer;
  readonly #keys = new Set<string>();
  readonly #replay: ReadonlyMap<string, JsonValue>;

  constructor(options: {
    council: Council;
    input: string;
    answer: FakeAnswer;
    signal?: AbortSignal;
    /** Decision values by key, returned without calling `decide` (a resumed run). */
    replay?: Record<string, JsonValue>;
  }) {
    this.council = options.council;
    this.input = options.input;
    this.path = [options.council.name];
    this.signal = options.signal ?? new AbortController().signal;
    this.#answer = options.answer;
    this.#replay = new Map(Object.entries(options.replay ?? {}));
  }

  runAgent(agent: Agent, input: string, options: StepOptions = {}): Promise<AgentStepResult> {
    const key = options.key ?? agent.name;
    if (this.#keys.has(key)) throw new HarnessError('internal', `two steps with the key "${key}"`);
    this.#keys.add(key);
    const signal = options.signal ? AbortSignal.any([this.signal, options.signal]) : this.signal;
    const call: FakeCall = { agent: agent.name, input, key, signal };
    this.calls.push(call);
    this.log.push(`start:${key}`);
    return new Promise<AgentStepResult>((resolve, reject) => {
      const onAbort = () => {
        this.log.push(`abort:${key}`);
        reject(new HarnessError('aborted', `step ${key} was aborted`, { cause: signal.reason }));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      Promise.resolve()
        .then(() => this.#answer(call))
        .then(
          (output) => {
            if (signal.aborted) return;
            signal.removeEventListener('abort', onAbort);
            this.log.push(`finish:${key}`);
            resolve({
              agent: agent.name,
              model: agent.model,
              output,
              usage: { ...emptyUsage(), modelCalls: 1 },
            });
          },
          (error: unknown) => {
            if (signal.aborted) return;
            signal.removeEventListener('abort', onAbort);
            this.log.push(`fail:${key}`);
            reject(error);
          },
        );
    });
  }

  async decide<T extends JsonValue>(
    key: string,
    kind: DecisionKind,
    decide: () => Promise<Decision<T>>,
  ): Promise<T> {
    if (this.#replay.has(key)) {
      this.log.push(`replay:${key}`);
      return this.#replay.get(key) as T;
    }
    const decision = await decide();
    this.log.push(`decide:${key}`);
    this.decisions.push({ key, kind, decision });
    return decision.value;
  }
}

/** A promise with its resolve function, to hold a scripted answer until a test releases it. */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open: (value: T) => void = () => {};
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
