/**
 * The cost ledger: one entry per model attempt — successful, failed, retried and fallback
 * attempts alike — with its tokens, USD, model, outcome and the path of the agent (or sub-agent)
 * that made it; totals per run, per path and per model.
 *
 * A live {@link CostLedger} builds entries from run events as they happen and keeps the last
 * `maxRuns` finished runs in memory; older runs (or runs of another process) are rebuilt from the
 * journal's events by {@link ledgerFromEvents}, with the same code, so both views agree.
 *
 * @module
 */
import { HarnessError } from '../errors.ts';
import type { RunEvent } from '../runtime/events.ts';
import type { RunStatus } from '../runtime/run.ts';
import { endedStatus } from './run-status.ts';

/** One model attempt. */
export interface LedgerEntry {
  /** `seq` of the attempt's `model-call-finish` / `model-call-error` event (per run attempt). */
  seq: number;
  /** When the attempt ended, epoch ms. */
  ts: number;
  /** Who called: `['Council', 'Agent']`, deeper for sub-agents, `['Council']` for council-level calls. */
  path: readonly string[];
  /** Registry id of the model. */
  model: string;
  /** AI SDK provider id (`openai.chat`, `anthropic.messages`, `simulated`, …). */
  provider: string;
  /**
   * Position of the attempt in its call (from 1: fallbacks and retries count up); undefined when
   * the attempt failed before it reached the provider (e.g. an unknown model or an open breaker).
   */
  attempt: number | undefined;
  /** Set on the first attempt on a fallback model: the model the chain moved from. */
  fallbackFrom?: string;
  /** `ok`, or `error` with {@link LedgerEntry.error}. */
  outcome: 'ok' | 'error';
  error?: { code: string; message: string };
  /** Tokens as the provider reported them; 0 for a failed attempt (none are reported). */
  inputTokens: number;
  outputTokens: number;
  /** USD from the registry's prices; 0 for a failed attempt or a model without prices. */
  costUsd: number;
  /** Provider latency, ms. */
  latencyMs: number;
}

/** Sums over a set of entries. */
export interface LedgerTotals {
  attempts: number;
  failedAttempts: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** The ledger of one run. */
export interface RunLedger {
  runId: string;
  /** Council name; undefined for a run refused before it started. */
  council: string | undefined;
  /** `running` until the run's last event. */
  status: RunStatus | 'running';
  /** Every attempt in the order the attempts ended. */
  entries: LedgerEntry[];
  totals: LedgerTotals;
  /** Per caller path joined with `/` (`Council/Agent/Sub`): that caller's own attempts. */
  byPath: Record<string, LedgerTotals>;
  /** Per registry model id. */
  byModel: Record<string, LedgerTotals>;
}

/** Options of {@link CostLedger}. */
export interface CostLedgerOptions {
  /** Finished runs kept in memory, the most recent first to stay (default 1000); running runs are always kept. */
  maxRuns?: number;
  /**
   * Where runs no longer in memory are read from: the run journal (`Harness.journal`). Called
   * only when such a run is asked for.
   */
  journal?: () => { events(runId: string): Iterable<RunEvent> } | undefined;
}

const emptyTotals = (): LedgerTotals => ({
  attempts: 0,
  failedAttempts: 0,
  inputTokens: 0,
  outputTokens: 0,
  costUsd: 0,
});

function addTo(totals: LedgerTotals, entry: LedgerEntry): void {
  totals.attempts += 1;
  if (entry.outcome === 'error') totals.failedAttempts += 1;
  totals.inputTokens += entry.inputTokens;
  totals.outputTokens += entry.outputTokens;
  totals.costUsd += entry.costUsd;
}

function totalsIn(record: Record<string, LedgerTotals>, key: string): LedgerTotals {
  let totals = record[key];
  if (!totals) {
    totals = emptyTotals();
    record[key] = totals;
  }
  return totals;
}

/** Builds the ledger of one run from its events, in order. */
class RunLedgerBuilder {
  readonly ledger: RunLedger;
  /** Attempts started and not yet ended, per `path + model`, oldest first. */
  readonly #started = new Map<string, Array<{ attempt: number; fallbackFrom: string | undefined }>>();
  /** The last fallback per path, waiting for the attempt on its target model. */
  readonly #fallback = new Map<string, { from: string; to: string }>();

  constructor(runId: string) {
    this.ledger = {
      runId,
      council: undefined,
      status: 'running',
      entries: [],
      totals: emptyTotals(),
      byPath: {},
      byModel: {},
    };
  }

  add(event: RunEvent): void {
    switch (event.type) {
      case 'run-start':
        this.ledger.council = event.council;
        return;
      case 'run-finish':
      case 'run-error':
        this.ledger.status = endedStatus(event) ?? 'failed';
        this.#started.clear();
        this.#fallback.clear();
        return;
      case 'model-fallback':
        this.#fallback.set(event.path.join('/'), { from: event.from, to: event.to });
        return;
      case 'model-call-start': {
        const path = event.path.join('/');
        const fallback = this.#fallback.get(path);
        let fallbackFrom: string | undefined;
        if (fallback && fallback.to === event.model) {
          fallbackFrom = fallback.from;
          this.#fallback.delete(path);
        }
        const key = `${path}\u001f${event.model}`;
        const queue = this.#started.get(key);
        const entry = { attempt: event.attempt, fallbackFrom };
        if (queue) queue.push(entry);
        else this.#started.set(key, [entry]);
        return;
      }
      case 'model-call-finish':
      case 'model-call-error': {
        const path = event.path.join('/');
        const key = `${path}\u001f${event.model}`;
        const queue = this.#started.get(key);
        const started = queue?.shift();
        if (queue && queue.length === 0) this.#started.delete(key);
        const entry: LedgerEntry = {
          seq: event.seq,
          ts: event.ts,
          path: event.path,
          model: event.model,
          provider: event.provider,
          attempt: started?.attempt,
          ...(started?.fallbackFrom === undefined ? {} : { fallbackFrom: started.fallbackFrom }),
          outcome: event.type === 'model-call-finish' ? 'ok' : 'error',
          ...(event.type === 'model-call-error'
            ? { error: { code: event.error.code, message: event.error.message } }
            : {}),
          inputTokens: event.type === 'model-call-finish' ? event.inputTokens : 0,
          outputTokens: event.type === 'model-call-finish' ? event.outputTokens : 0,
          costUsd: event.type === 'model-call-finish' ? event.costUsd : 0,
          latencyMs: event.latencyMs,
        };
        const { ledger } = this;
        ledger.entries.push(entry);
        addTo(ledger.totals, entry);
        addTo(totalsIn(ledger.byPath, path), entry);
        addTo(totalsIn(ledger.byModel, event.model), entry);
        return;
      }
      default:
        return;
    }
  }
}

/** A deep copy, so callers cannot change what the ledger holds. */
function snapshot(ledger: RunLedger): RunLedger {
  const copy = (record: Record<string, LedgerTotals>) =>
    Object.fromEntries(Object.entries(record).map(([k, v]) => [k, { ...v }]));
  return {
    ...ledger,
    entries: ledger.entries.map((e) => ({ ...e, ...(e.error ? { error: { ...e.error } } : {}) })),
    totals: { ...ledger.totals },
    byPath: copy(ledger.byPath),
    byModel: copy(ledger.byModel),
  };
}

/**
 * The ledger of one run rebuilt from its events (e.g. `journal.events(runId)`); undefined when
 * there are none. Events of several run attempts (a resumed run) add up: a replayed step made no
 * model call, so nothing is counted twice.
 */
export function ledgerFromEvents(events: Iterable<RunEvent>): RunLedger | undefined {
  let builder: RunLedgerBuilder | undefined;
  for (const event of events) {
    builder ??= new RunLedgerBuilder(event.runId);
    builder.add(event);
  }
  return builder?.ledger;
}

/** Every model attempt of every run, live; see the module comment. */
export class CostLedger {
  /** Finished runs kept in memory. */
  readonly maxRuns: number;
  readonly #live = new Map<string, RunLedgerBuilder>();
  /** Finished runs, oldest first (a Map keeps insertion order). */
  readonly #finished = new Map<string, RunLedger>();
  readonly #journal: CostLedgerOptions['journal'];

  /**
   * @throws HarnessError `config_invalid` when `maxRuns` is not a whole number ≥ 0.
   */
  constructor(options: CostLedgerOptions = {}) {
    const maxRuns = options.maxRuns ?? 1000;
    if (!(Number.isInteger(maxRuns) && maxRuns >= 0)) {
      throw new HarnessError('config_invalid', `CostLedger.maxRuns: ${maxRuns} is not a whole number ≥ 0`, {
        location: { path: 'CostLedger.maxRuns' },
        hint: 'keep e.g. 1000 finished runs in memory; older ones are read from the journal',
      });
    }
    this.maxRuns = maxRuns;
    this.#journal = options.journal;
  }

  /** The event listener: O(1) work per event; `token-delta` is ignored. */
  observe(event: RunEvent): void {
    if (event.type === 'token-delta') return;
    let builder = this.#live.get(event.runId);
    if (!builder) {
      // A resumed run starts a new event log under the same id: continue its finished ledger.
      const finished = this.#finished.get(event.runId);
      builder = new RunLedgerBuilder(event.runId);
      if (finished) {
        this.#finished.delete(event.runId);
        Object.assign(builder.ledger, finished, { status: 'running' });
      }
      this.#live.set(event.runId, builder);
    }
    if (event.type === 'run-resume' && builder.ledger.entries.length === 0) this.#seedFromJournal(builder);
    builder.add(event);
    if (event.type === 'run-finish' || event.type === 'run-error') {
      this.#live.delete(event.runId);
      if (this.maxRuns === 0) return;
      this.#finished.set(event.runId, builder.ledger);
      if (this.#finished.size > this.maxRuns) {
        const oldest = this.#finished.keys().next().value;
        if (oldest !== undefined) this.#finished.delete(oldest);
      }
    }
  }

  /**
   * The ledger of `runId` (a copy): from memory while the run runs and for the last `maxRuns`
   * finished runs, else from the journal; undefined for a run neither knows.
   */
  ledgerOf(runId: string): RunLedger | undefined {
    const held = this.#live.get(runId)?.ledger ?? this.#finished.get(runId);
    if (held) return snapshot(held);
    const journal = this.#journal?.();
    return journal ? ledgerFromEvents(journal.events(runId)) : undefined;
  }

  /** A run resumed in a new process: its earlier attempts' entries come from the journal. */
  #seedFromJournal(builder: RunLedgerBuilder): void {
    let past: RunLedger | undefined;
    try {
      const journal = this.#journal?.();
      past = journal ? ledgerFromEvents(journal.events(builder.ledger.runId)) : undefined;
    } catch {
      // An unreadable journal leaves the live entries only; the run itself is not affected.
      return;
    }
    if (past) Object.assign(builder.ledger, past, { status: 'running' });
  }

  /** Ids of the runs held in memory: running ones, then finished ones oldest first. */
  runIds(): string[] {
    return [...this.#live.keys(), ...this.#finished.keys()];
  }
}
