/** `Run`: the handle of one council run — awaitable for its result, iterable for its events. */
import type { HarnessError } from '../errors.ts';
import type { EventLog, RunEvent, SubscribeOptions, Usage } from './events.ts';

/** `limit_exceeded`: a run limit ended it; `error.details` names the limit, the usage and the partial output. */
export type RunStatus = 'succeeded' | 'failed' | 'aborted' | 'limit_exceeded';

export interface AgentOutcome {
  name: string;
  /** The registry id of the model that answered (after any fallback). */
  model: string;
  output: string;
}

export interface RunResult {
  runId: string;
  council: string;
  status: RunStatus;
  /** The last agent's output (empty when the run failed before any output). */
  output: string;
  agents: AgentOutcome[];
  usage: Usage;
  durationMs: number;
  /** Set when status is not `succeeded`. */
  error?: HarnessError;
  /** 0..1 when the council's strategy measures it (a vote's agreement). */
  confidence?: number;
}

export class Run implements PromiseLike<RunResult>, AsyncIterable<RunEvent> {
  readonly runId: string;
  /** Settles when the run ends; never rejects — failures are `status: 'failed'` with `error`. */
  readonly result: Promise<RunResult>;
  readonly #log: EventLog;

  constructor(log: EventLog, result: Promise<RunResult>) {
    this.runId = log.runId;
    this.#log = log;
    this.result = result;
  }

  /** Events emitted so far. */
  get events(): readonly RunEvent[] {
    return this.#log.events;
  }

  /**
   * Calls `listener` for each later event; returns an unsubscribe function. A listener that ignores
   * `token-delta` events passes `{ tokenDeltas: false }`, so it does not make the run stream.
   */
  onEvent(listener: (event: RunEvent) => void, options?: SubscribeOptions): () => void {
    return this.#log.subscribe(listener, options);
  }

  // biome-ignore lint/suspicious/noThenProperty: a Run is deliberately awaitable (await harness.run(...)).
  then<A = RunResult, B = never>(
    onfulfilled?: ((value: RunResult) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): PromiseLike<A | B> {
    return this.result.then(onfulfilled, onrejected);
  }

  /** Every event of the run from the first, ending when the run ends. */
  [Symbol.asyncIterator](): AsyncIterator<RunEvent> {
    return this.#log[Symbol.asyncIterator]();
  }
}
