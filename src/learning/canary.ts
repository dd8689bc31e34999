/**
 * `CanaryController`: canary releases with automatic promotion and rollback. A canary is one
 * thing (a model id, a skill) in two versions, `stable` and `candidate`; while it runs, a
 * `share` of calls goes to the candidate, each call's outcome (ok or error, latency, optional
 * score) is recorded for its version, and after each one the sequential test of
 * {@link compareArms} decides: **promote** (the candidate becomes the version every call gets) or
 * **roll back** (the candidate is disabled, every call gets the stable version again).
 *
 * The state lives in SQLite (`node:sqlite`), not in this object: every route reads it and every
 * outcome is one short transaction. So a decision survives a restart, and several controllers
 * (a reloaded registry, another process) on the same file see one canary and add to the same
 * counts. A file write costs tens of microseconds, nothing next to a model or skill call.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { HarnessError } from '../errors.ts';
import {
  type ArmStats,
  addOutcome,
  addScore,
  type CanaryGoal,
  type CanaryOutcome,
  type CanaryTestOptions,
  compareArms,
  emptyArmStats,
  resolveCanaryTest,
} from './sprt.ts';

/** The canary state file when none is named: `$FORGE_CANARY_URL`, else this (relative to the working directory). */
export const defaultCanaryUrl = 'sqlite://.forge/canary.db';

/** `running` splits traffic; `promoted` and `rolled-back` are final for this pair of versions. */
export type CanaryStatus = 'running' | 'promoted' | 'rolled-back';

/** Which of the two versions a call went to. */
export type CanaryArm = 'stable' | 'candidate';

/** What {@link CanaryController.start} needs to know of a canary. */
export interface CanaryStartOptions {
  /** The version in service now (a model id, a skill version). */
  stable: string;
  /** The version on trial; must differ from `stable`. */
  candidate: string;
  /** Share of calls routed to the candidate while the canary runs, in (0, 1]; default 0.1. */
  share?: number;
  /** How the candidate must compare (default the controller's test goal, else `no-regression`). */
  goal?: CanaryGoal;
  /** Test options of this canary, over the controller's. */
  test?: CanaryTestOptions;
}

/** A canary as the state file knows it. */
export interface CanaryState {
  subject: string;
  stable: string;
  candidate: string;
  share: number;
  goal: CanaryGoal;
  status: CanaryStatus;
  /** The version calls get outside the split: the candidate once promoted, else the stable one. */
  active: string;
  /** Why it was decided (absent while running). */
  reason?: string;
  stats: { stable: ArmStats; candidate: ArmStats };
  /** Epoch ms. */
  startedAt: number;
  updatedAt: number;
  decidedAt?: number;
}

/** A promotion or rollback, as listeners get it and {@link CanaryController.decisions} lists it. */
export interface CanaryDecision {
  subject: string;
  decision: 'promote' | 'rollback';
  stable: string;
  candidate: string;
  reason: string;
  /** `test`: the sequential test decided; `manual`: {@link CanaryController.promote} / `rollback`. */
  by: 'test' | 'manual';
  /** Epoch ms. */
  at: number;
  stats: { stable: ArmStats; candidate: ArmStats };
}

/** Where one call goes. */
export interface CanaryRoute {
  arm: CanaryArm;
  /** The version to call (pass it back to {@link CanaryController.record}). */
  version: string;
  /** The canary's status: once it is not `running`, `version` is the active version. */
  status: CanaryStatus;
}

export interface CanaryControllerOptions {
  /**
   * The state file: a path, `sqlite://path` or `:memory:` (state dies with the process).
   * Default `:memory:`; the registry and `withPatches` default to {@link defaultCanaryUrl}.
   */
  path?: string;
  /** Test options of every canary of this controller (see `CanaryTestOptions` for the defaults). */
  test?: CanaryTestOptions;
  /** Uniform [0, 1) numbers for calls routed without a key (default `Math.random`); inject a seeded one for tests. */
  random?: () => number;
  /** Clock, epoch ms (default `Date.now`). */
  now?: () => number;
  /** How long a write waits for another process's lock on the file, ms (default 5000). */
  busyTimeoutMs?: number;
}

interface Row {
  subject: string;
  stable: string;
  candidate: string;
  share: number;
  goal: string;
  status: string;
  reason: string | null;
  stats: string;
  started_at: number;
  updated_at: number;
  decided_at: number | null;
}

interface DecisionRow {
  subject: string;
  decision: string;
  stable: string;
  candidate: string;
  reason: string;
  by_whom: string;
  stats: string;
  decided_at: number;
}

const schema = `
CREATE TABLE IF NOT EXISTS canaries (
  subject TEXT PRIMARY KEY,
  stable TEXT NOT NULL,
  candidate TEXT NOT NULL,
  share REAL NOT NULL,
  goal TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  stats TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  decided_at INTEGER
);
CREATE TABLE IF NOT EXISTS canary_decisions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  subject TEXT NOT NULL,
  decision TEXT NOT NULL,
  stable TEXT NOT NULL,
  candidate TEXT NOT NULL,
  reason TEXT NOT NULL,
  by_whom TEXT NOT NULL,
  stats TEXT NOT NULL,
  decided_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS canary_decisions_by_subject ON canary_decisions (subject, id);
`;

interface Statements {
  get: StatementSync;
  all: StatementSync;
  put: StatementSync;
  update: StatementSync;
  decide: StatementSync;
  addDecision: StatementSync;
  decisions: StatementSync;
  allDecisions: StatementSync;
}

export class CanaryController {
  /** The state file as given (`:memory:` for none). */
  readonly location: string;
  readonly #db: DatabaseSync;
  readonly #s: Statements;
  readonly #test: CanaryTestOptions;
  /** Per subject: the test options given to `start` in this process. */
  readonly #tests = new Map<string, CanaryTestOptions>();
  /** The last row read per subject: routes keep working on it when the file cannot be read. */
  readonly #last = new Map<string, Row>();
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #listeners = new Set<(decision: CanaryDecision) => void>();
  readonly #errorListeners = new Set<(error: HarnessError) => void>();

  constructor(options: CanaryControllerOptions = {}) {
    const given = options.path ?? ':memory:';
    const path = given.startsWith('sqlite://') ? given.slice('sqlite://'.length) : given;
    this.location = given;
    this.#test = options.test ?? {};
    resolveCanaryTest(this.#test, 'CanaryController.test');
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.#db = new DatabaseSync(path, { timeout: options.busyTimeoutMs ?? 5000 });
      this.#db.exec('PRAGMA journal_mode = WAL');
      this.#db.exec('PRAGMA synchronous = NORMAL');
      this.#db.exec(schema);
    } catch (error) {
      throw canaryError(`cannot open the canary state file ${given}`, error, {
        hint: 'check that the folder is writable and the file is a forge canary state file',
        location: { path: 'CanaryController.path' },
      });
    }
    const db = this.#db;
    this.#s = {
      get: db.prepare('SELECT * FROM canaries WHERE subject = ?'),
      all: db.prepare('SELECT * FROM canaries ORDER BY subject'),
      put: db.prepare(
        `INSERT OR REPLACE INTO canaries (subject, stable, candidate, share, goal, status, reason, stats, started_at, updated_at, decided_at)
         VALUES (?, ?, ?, ?, ?, 'running', NULL, ?, ?, ?, NULL)`,
      ),
      update: db.prepare(
        'UPDATE canaries SET share = ?, goal = ?, stats = ?, updated_at = ? WHERE subject = ?',
      ),
      decide: db.prepare(
        'UPDATE canaries SET status = ?, reason = ?, stats = ?, updated_at = ?, decided_at = ? WHERE subject = ?',
      ),
      addDecision: db.prepare(
        `INSERT INTO canary_decisions (subject, decision, stable, candidate, reason, by_whom, stats, decided_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      decisions: db.prepare('SELECT * FROM canary_decisions WHERE subject = ? ORDER BY id'),
      allDecisions: db.prepare('SELECT * FROM canary_decisions ORDER BY id'),
    };
  }

  /**
   * Checks what {@link start} would be given, without touching the state file: `config_invalid`
   * naming the option (`CanaryController.start("model:chat").share`). Returns the share, the
   * goal and the test options `start` would use.
   */
  check(
    subject: string,
    options: CanaryStartOptions,
  ): { share: number; goal: CanaryGoal; test: CanaryTestOptions } {
    const where = `CanaryController.start(${JSON.stringify(subject)})`;
    if (typeof subject !== 'string' || subject === '')
      throw invalid(where, 'subject must be a non-empty string');
    for (const key of ['stable', 'candidate'] as const) {
      if (typeof options[key] !== 'string' || options[key] === '') {
        throw invalid(`${where}.${key}`, `${key} must be a non-empty version string`);
      }
    }
    if (options.stable === options.candidate) {
      throw invalid(
        `${where}.candidate`,
        `candidate and stable are both "${options.stable}": a canary needs two versions`,
      );
    }
    const share = options.share ?? 0.1;
    if (!(share > 0 && share <= 1)) throw invalid(`${where}.share`, `share must be in (0, 1] (got ${share})`);
    const test = {
      ...this.#test,
      ...definedOnly(options.test ?? {}),
      ...(options.goal ? { goal: options.goal } : {}),
    };
    return { share, goal: resolveCanaryTest(test, `${where}.test`).goal, test };
  }

  /**
   * Starts the canary of `subject`, or joins it: when the state file already has this subject
   * with the same stable and candidate versions, its status and counts are kept (a restart goes
   * on where it stopped, a promotion or rollback stays); the share and goal given now apply. A
   * different pair of versions starts a new canary (the old one's decision stays in
   * {@link decisions}).
   */
  start(subject: string, options: CanaryStartOptions): CanaryState {
    const { share, goal, test } = this.check(subject, options);
    this.#tests.set(subject, test);
    const now = this.#now();
    return this.#tx(`start the canary "${subject}"`, () => {
      const row = this.#row(subject);
      if (row && row.stable === options.stable && row.candidate === options.candidate) {
        if (row.status === 'running') this.#s.update.run(share, goal, row.stats, now, subject);
      } else {
        const stats = JSON.stringify({ stable: emptyArmStats(), candidate: emptyArmStats() });
        this.#s.put.run(subject, options.stable, options.candidate, share, goal, stats, now, now);
      }
      return toState(this.#row(subject) as Row);
    });
  }

  /**
   * The version one call of `subject` goes to. While the canary runs: the candidate for a `share`
   * of calls, by `key` when given (the same key always gets the same version, e.g. a retried
   * step) or else at random; once decided, always the active version. When the file cannot be
   * read the last known state is used (and the error goes to {@link onError} listeners).
   */
  route(subject: string, key?: string): CanaryRoute {
    const row = this.#read(subject);
    const status = row.status as CanaryStatus;
    if (status === 'promoted') return { arm: 'candidate', version: row.candidate, status };
    if (status !== 'running') return { arm: 'stable', version: row.stable, status };
    const draw = key === undefined ? this.#random() : bucket(`${subject}\u0000${key}`);
    return draw < row.share
      ? { arm: 'candidate', version: row.candidate, status }
      : { arm: 'stable', version: row.stable, status };
  }

  /**
   * Records how one call of `version` ended and runs the test; returns the decision when this
   * outcome settled the canary (listeners get it too). Outcomes for a canary that is decided or
   * was replaced, or for a version that is neither of its two, are ignored. Never throws: a
   * file that cannot be written is reported to {@link onError} listeners.
   */
  record(subject: string, version: string, outcome: CanaryOutcome): CanaryDecision | undefined {
    return this.#add(subject, version, (stats, floor) => addOutcome(stats, outcome, floor));
  }

  /** Records a score (0..1) that arrived later for a call of `version` already recorded; as {@link record}. */
  score(subject: string, version: string, score: number): CanaryDecision | undefined {
    return this.#add(subject, version, (stats) => addScore(stats, score));
  }

  /** Promotes the running candidate of `subject` now (an operator's decision); undefined when it is not running. */
  promote(subject: string, reason = 'promoted by hand'): CanaryDecision | undefined {
    return this.#manual(subject, 'promote', reason);
  }

  /** Rolls the running candidate of `subject` back now; undefined when it is not running. */
  rollback(subject: string, reason = 'rolled back by hand'): CanaryDecision | undefined {
    return this.#manual(subject, 'rollback', reason);
  }

  /** The canary of `subject` as the file has it now, or undefined. */
  state(subject: string): CanaryState | undefined {
    const row = this.#tx(`read the canary "${subject}"`, () => this.#row(subject), false);
    return row === undefined ? undefined : toState(row);
  }

  /**
   * As {@link state}, but never throws: when the file cannot be read it returns the last state
   * this controller read (or undefined) and reports the error to {@link onError} listeners. For
   * the call path, where a broken state file must not fail the call.
   */
  peek(subject: string): CanaryState | undefined {
    try {
      return this.state(subject);
    } catch (error) {
      this.#report(error);
      const last = this.#last.get(subject);
      return last === undefined ? undefined : toState(last);
    }
  }

  /** Every canary in the file, by subject. */
  list(): CanaryState[] {
    return this.#tx('list canaries', () => (this.#s.all.all() as unknown as Row[]).map(toState), false);
  }

  /** Past decisions, oldest first: of `subject`, or of every canary in the file. */
  decisions(subject?: string): CanaryDecision[] {
    return this.#tx(
      'read canary decisions',
      () => {
        const rows = (subject === undefined
          ? this.#s.allDecisions.all()
          : this.#s.decisions.all(subject)) as unknown as DecisionRow[];
        return rows.map(toDecision);
      },
      false,
    );
  }

  /** Calls `listener` with every decision this controller takes; returns an unsubscribe function. */
  onDecision(listener: (decision: CanaryDecision) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls `listener` with state-file failures that `route` and `record` absorbed (`canary_error`). */
  onError(listener: (error: HarnessError) => void): () => void {
    this.#errorListeners.add(listener);
    return () => this.#errorListeners.delete(listener);
  }

  /** Closes the state file; later calls throw `canary_error`. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #add(
    subject: string,
    version: string,
    update: (stats: ArmStats, latencyFloorMs: number | undefined) => ArmStats,
  ): CanaryDecision | undefined {
    let decision: CanaryDecision | undefined;
    try {
      decision = this.#tx(`record an outcome of the canary "${subject}"`, () => {
        const row = this.#row(subject);
        if (row?.status !== 'running') return undefined;
        const arm: CanaryArm | undefined =
          version === row.stable ? 'stable' : version === row.candidate ? 'candidate' : undefined;
        if (arm === undefined) return undefined;
        const test = { ...(this.#tests.get(subject) ?? this.#test), goal: row.goal as CanaryGoal };
        const stats = JSON.parse(row.stats) as CanaryState['stats'];
        stats[arm] = update(stats[arm], test.latencyFloorMs);
        const now = this.#now();
        const verdict = compareArms(stats.stable, stats.candidate, test);
        if (verdict.decision === 'continue') {
          this.#s.update.run(row.share, row.goal, JSON.stringify(stats), now, subject);
          return undefined;
        }
        return this.#decide(row, verdict.decision, verdict.reason, 'test', stats, now);
      });
    } catch (error) {
      this.#report(error);
      return undefined;
    }
    if (decision) this.#emit(decision);
    return decision;
  }

  #manual(subject: string, kind: 'promote' | 'rollback', reason: string): CanaryDecision | undefined {
    const decision = this.#tx(`decide the canary "${subject}"`, () => {
      const row = this.#row(subject);
      if (row?.status !== 'running') return undefined;
      return this.#decide(row, kind, reason, 'manual', JSON.parse(row.stats), this.#now());
    });
    if (decision) this.#emit(decision);
    return decision;
  }

  #decide(
    row: Row,
    kind: 'promote' | 'rollback',
    reason: string,
    by: 'test' | 'manual',
    stats: CanaryState['stats'],
    now: number,
  ): CanaryDecision {
    const json = JSON.stringify(stats);
    this.#s.decide.run(kind === 'promote' ? 'promoted' : 'rolled-back', reason, json, now, now, row.subject);
    this.#s.addDecision.run(row.subject, kind, row.stable, row.candidate, reason, by, json, now);
    this.#row(row.subject);
    return {
      subject: row.subject,
      decision: kind,
      stable: row.stable,
      candidate: row.candidate,
      reason,
      by,
      at: now,
      stats,
    };
  }

  /** The row of `subject` for routing: the file's, else the last one read (the error reported). */
  #read(subject: string): Row {
    let row: Row | undefined;
    try {
      row = this.#tx(`read the canary "${subject}"`, () => this.#row(subject), false);
    } catch (error) {
      const last = this.#last.get(subject);
      if (!last) throw error;
      this.#report(error);
      return last;
    }
    if (row === undefined) {
      throw new HarnessError('canary_error', `no canary "${subject}" in ${this.location}`, {
        hint: 'start it first with controller.start(subject, { stable, candidate, share })',
        details: { subject },
      });
    }
    return row;
  }

  #row(subject: string): Row | undefined {
    const row = this.#s.get.get(subject) as Row | undefined;
    if (row) this.#last.set(subject, row);
    return row;
  }

  /** Runs `work` in a write transaction (or, with `write` false, on its own); failures are `canary_error`. */
  #tx<T>(what: string, work: () => T, write = true): T {
    try {
      if (!write) return work();
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        const result = work();
        this.#db.exec('COMMIT');
        return result;
      } catch (error) {
        if (this.#db.isOpen && this.#db.isTransaction) this.#db.exec('ROLLBACK');
        throw error;
      }
    } catch (error) {
      if (HarnessError.isInstance(error)) throw error;
      throw canaryError(`cannot ${what} in ${this.location}`, error, {
        hint: 'check free disk space, that the file is writable and that no other program holds it locked',
      });
    }
  }

  #emit(decision: CanaryDecision): void {
    for (const listener of this.#listeners) {
      try {
        listener(decision);
      } catch {
        // A failing listener must not break the call that decided, nor other listeners.
      }
    }
  }

  #report(error: unknown): void {
    const e = HarnessError.isInstance(error) ? error : canaryError('canary state failure', error, {});
    for (const listener of this.#errorListeners) {
      try {
        listener(e);
      } catch {
        // As above.
      }
    }
  }
}

let shared: Map<string, CanaryController> | undefined;

/**
 * The controller of a state file shared by everything in this process that names no controller
 * of its own (skills with `patches`): `url` defaults to `$FORGE_CANARY_URL`, else
 * {@link defaultCanaryUrl}. Opened on first use.
 */
export function defaultCanaryController(
  url = process.env.FORGE_CANARY_URL ?? defaultCanaryUrl,
): CanaryController {
  shared ??= new Map();
  let controller = shared.get(url);
  if (!controller) {
    controller = new CanaryController({ path: url });
    shared.set(url, controller);
  }
  return controller;
}

/**
 * A uniform number in [0, 1) from a string: FNV-1a, then MurmurHash3's finalizer so similar keys
 * (`run_1/…`, `run_2/…`) spread evenly.
 */
export function bucket(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

/**
 * A seeded generator of uniform numbers in [0, 1) (mulberry32): for `CanaryControllerOptions.random`
 * when routes must be reproducible.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function toState(row: Row): CanaryState {
  const status = row.status as CanaryStatus;
  return {
    subject: row.subject,
    stable: row.stable,
    candidate: row.candidate,
    share: Number(row.share),
    goal: row.goal as CanaryGoal,
    status,
    active: status === 'promoted' ? row.candidate : row.stable,
    ...(row.reason === null ? {} : { reason: row.reason }),
    stats: JSON.parse(row.stats),
    startedAt: Number(row.started_at),
    updatedAt: Number(row.updated_at),
    ...(row.decided_at === null ? {} : { decidedAt: Number(row.decided_at) }),
  };
}

function toDecision(row: DecisionRow): CanaryDecision {
  return {
    subject: row.subject,
    decision: row.decision as CanaryDecision['decision'],
    stable: row.stable,
    candidate: row.candidate,
    reason: row.reason,
    by: row.by_whom as CanaryDecision['by'],
    at: Number(row.decided_at),
    stats: JSON.parse(row.stats),
  };
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function invalid(option: string, message: string): HarnessError {
  return new HarnessError('config_invalid', `${option}: ${message}`, {
    location: { path: option },
    hint: 'see docs/self-healing.md for canary options',
    details: { option },
  });
}

function canaryError(
  message: string,
  cause: unknown,
  options: { hint?: string; location?: { path: string } },
): HarnessError {
  const reason = cause instanceof Error ? `: ${cause.message}` : '';
  return new HarnessError('canary_error', `${message}${reason}`, {
    cause,
    ...(options.hint === undefined ? {} : { hint: options.hint }),
    ...(options.location === undefined ? {} : { location: options.location }),
  });
}
