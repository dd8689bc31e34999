/**
 * `RunEvent`: the typed, versioned union every run emits. The journal, telemetry, learning and
 * the UI all consume this one stream. `path` locates the emitter in the council tree:
 * `['CustomerSupport']` for the council, `['CustomerSupport', 'Triage']` for an agent, and
 * deeper for sub-agents.
 */

/** Token and cost totals. Token counts come from the provider (or the simulated estimate). */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** USD, from the registry's prices; 0 when prices are unknown. */
  costUsd: number;
  modelCalls: number;
}

/** A secret-free error as carried by events. */
export interface EventError {
  code: string;
  message: string;
  isRetryable: boolean;
  hint?: string;
}

interface Base {
  /** Schema version of the event union. */
  v: 1;
  runId: string;
  /** Position in the run's event sequence, from 0. */
  seq: number;
  /** Epoch milliseconds. */
  ts: number;
  path: string[];
}

export type RunEventBody =
  | { type: 'run-start'; council: string; input: string }
  | { type: 'run-finish'; output: string; usage: Usage; durationMs: number }
  | { type: 'run-error'; error: EventError; usage: Usage; durationMs: number }
  | { type: 'agent-start'; agent: string; model: string; input: string }
  | { type: 'agent-finish'; agent: string; output: string; usage: Usage; durationMs: number }
  | { type: 'agent-error'; agent: string; error: EventError }
  | { type: 'step-start'; step: number }
  | { type: 'step-finish'; step: number; finishReason: string; text: string }
  | { type: 'step-error'; step: number; error: EventError }
  | { type: 'model-call-start'; model: string; provider: string; attempt: number; stream: boolean }
  | {
      type: 'model-call-finish';
      model: string;
      provider: string;
      inputTokens: number;
      outputTokens: number;
      costUsd: number;
      latencyMs: number;
    }
  | { type: 'model-call-error'; model: string; provider: string; error: EventError; latencyMs: number }
  | { type: 'model-fallback'; from: string; to: string; reason: string }
  /** The same model is tried again after `delayMs` (the provider's Retry-After, or backoff). */
  | { type: 'model-retry'; model: string; attempt: number; delayMs: number; reason: string }
  /** The provider accepted the call but ignored or adapted a setting (e.g. an unsupported option). */
  | { type: 'model-warning'; model: string; warnings: string[] }
  | { type: 'tool-call-start'; tool: string; toolCallId: string; input: unknown }
  | { type: 'tool-call-finish'; tool: string; toolCallId: string; output: unknown; durationMs: number }
  | { type: 'tool-call-error'; tool: string; toolCallId: string; error: EventError; durationMs: number }
  | { type: 'token-delta'; delta: string }
  /** A strategy or policy chose something (a route, a vote winner, a recursion fallback). */
  | {
      type: 'decision';
      kind: string;
      chosen: string;
      reason: string;
      detail?: Record<string, unknown>;
    }
  /** An agent spawned a sub-agent (path of the event is the parent's; `depth` is the child's). */
  | { type: 'subagent-spawn'; agent: string; depth: number; input: string }
  /** A run or step limit was reached; the run ends with `limit_exceeded`. */
  | { type: 'limit-exceeded'; limit: string; limitValue: number; used: number }
  /** The run was resumed from its journal: finished steps replay without model calls. */
  | { type: 'run-resume'; attempt: number; journaledSteps: number }
  /** A journaled step was replayed instead of executed. */
  | { type: 'step-replayed'; key: string }
  /** The run waited for admission (scheduler queue) before starting. */
  | { type: 'run-queued'; priority: string; waitedMs: number }
  /**
   * A canary was decided by the call this event belongs to: `promote` (the candidate is the
   * version every call gets now) or `rollback` (the candidate is disabled). `subject` names the
   * canary: `skill:<name>` (`canarySkill`) or `patch:<name>` (a skill's patches). Model canaries
   * (`model:<id>`) report through their controller's listeners instead: a model call has no run.
   */
  | {
      type: 'canary-decision';
      subject: string;
      decision: 'promote' | 'rollback';
      stable: string;
      candidate: string;
      reason: string;
    }
  /** A skill failed with an error a patch fixes; the patch `version` now runs as a canary. */
  | { type: 'patch-applied'; skill: string; version: string; signature: string }
  /**
   * A circuit breaker changed state during this run's model call: `open` (its model is skipped
   * until the cooldown ends), `half-open` (this call is the probe), `close` (the probe succeeded).
   * `scope` says what it guards; `model` is the model of the call that changed it, `provider` the
   * provider breaker's key (`type endpoint`), `key` the key reference (key scope only, never a value).
   */
  | {
      type: 'breaker-open' | 'breaker-half-open' | 'breaker-close';
      scope: 'provider' | 'model' | 'key';
      model: string;
      provider: string;
      reason: string;
      key?: string;
    }
  /** The call was also sent to `to` because `from` had no first token after `afterMs` (hedging). */
  | { type: 'model-hedge'; from: string; to: string; afterMs: number; reason: string }
  /**
   * A stream failed after it had sent output: it ends with a `stream_interrupted` error and is not
   * replayed on another model; the agent turn fails with it (its caller decides what next).
   */
  | { type: 'stream-interrupted'; model: string; provider: string; error: EventError; latencyMs: number }
  /**
   * The provider refused a key (401/403) and the gateway re-read it from its source: `rotated`
   * (a new value, the call is retried with it), `unchanged` (no new value), `dead` (skipped until
   * its source changes), `revived` (a dead key came back with a new value). `key` is the reference.
   */
  | {
      type: 'key-refresh';
      model: string;
      key: string;
      outcome: 'rotated' | 'unchanged' | 'dead' | 'revived';
    };

/** The events a skill may report about itself through `SkillContext.emit`. */
export type SkillEventBody = Extract<RunEventBody, { type: 'canary-decision' | 'patch-applied' }>;

/** One event of a run. Narrow on `type`. */
export type RunEvent = Base & RunEventBody;

export type RunEventType = RunEvent['type'];

/** A zero usage record. */
export function emptyUsage(): Usage {
  return { inputTokens: 0, outputTokens: 0, costUsd: 0, modelCalls: 0 };
}

/** Adds `b` into `a` in place. */
export function addUsage(a: Usage, b: Usage): Usage {
  a.inputTokens += b.inputTokens;
  a.outputTokens += b.outputTokens;
  a.costUsd += b.costUsd;
  a.modelCalls += b.modelCalls;
  return a;
}

/** Options of {@link EventLog.subscribe}. */
export interface SubscribeOptions {
  /**
   * Whether the listener wants `token-delta` events (default true). A run whose answers nobody
   * watches token by token makes non-streaming model calls (`RunOptions.stream` unset): a
   * listener that ignores deltas says `false`, so it does not make the run stream.
   */
  tokenDeltas?: boolean;
}

/**
 * Event listeners, each subscription its own (the same function subscribed twice is called
 * twice), counting those that take token deltas. A throwing listener is ignored.
 */
export class Listeners {
  readonly #subscriptions = new Set<{ listener: (event: RunEvent) => void }>();
  #deltas = 0;

  /** Whether a listener that takes token deltas is subscribed. */
  get takeDeltas(): boolean {
    return this.#deltas > 0;
  }

  /** Subscribes `listener`; returns its unsubscribe function (idempotent). */
  add(listener: (event: RunEvent) => void, options: SubscribeOptions = {}): () => void {
    const subscription = { listener };
    this.#subscriptions.add(subscription);
    const deltas = options.tokenDeltas !== false;
    if (deltas) this.#deltas++;
    return () => {
      if (this.#subscriptions.delete(subscription) && deltas) this.#deltas--;
    };
  }

  /** Calls every listener with `event`. */
  deliver(event: RunEvent): void {
    for (const { listener } of this.#subscriptions) {
      try {
        listener(event);
      } catch {
        // A failing listener must not break the run or other listeners.
      }
    }
  }
}

/**
 * The event log of one run: callbacks see each event as it happens, and every async
 * iterator replays from the first event, so a late `for await` misses nothing (a turn that
 * nobody watched live has no `token-delta` events, unless the run streams always).
 */
export class EventLog {
  readonly runId: string;
  readonly #events: RunEvent[] = [];
  readonly #listeners = new Listeners();
  #waiters: Array<() => void> = [];
  #closed = false;
  /** Iterators reading now. */
  #iterators = 0;
  readonly #watchedElsewhere: (() => boolean) | undefined;

  /** `watchedElsewhere`: whether someone outside this log wants its deltas (the harness's own subscribers). */
  constructor(runId: string, watchedElsewhere?: () => boolean) {
    this.runId = runId;
    this.#watchedElsewhere = watchedElsewhere;
  }

  /** Whether anyone watches token deltas live now: an iterator, or a listener that takes them. */
  watched(): boolean {
    return this.#iterators > 0 || this.#listeners.takeDeltas || this.#watchedElsewhere?.() === true;
  }

  /** Appends an event stamped with run id, sequence and time, and delivers it. */
  emit(path: readonly string[], body: RunEventBody): RunEvent {
    const event = {
      v: 1,
      runId: this.runId,
      seq: this.#events.length,
      ts: Date.now(),
      path: [...path],
      ...body,
    } as RunEvent;
    this.#events.push(event);
    this.#listeners.deliver(event);
    if (this.#waiters.length > 0) this.#wake();
    return event;
  }

  /** Calls `listener` for every later event; returns an unsubscribe function. */
  subscribe(listener: (event: RunEvent) => void, options: SubscribeOptions = {}): () => void {
    return this.#listeners.add(listener, options);
  }

  /** Ends iteration for all iterators once they have drained. */
  close(): void {
    this.#closed = true;
    this.#wake();
  }

  /** Everything emitted so far. */
  get events(): readonly RunEvent[] {
    return this.#events;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<RunEvent> {
    // A watcher from its first read (a `for await` reads at once) until it ends or is left.
    this.#iterators++;
    try {
      let i = 0;
      while (true) {
        if (i < this.#events.length) {
          yield this.#events[i++] as RunEvent;
        } else if (this.#closed) {
          return;
        } else {
          await new Promise<void>((resolve) => this.#waiters.push(resolve));
        }
      }
    } finally {
      this.#iterators--;
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
