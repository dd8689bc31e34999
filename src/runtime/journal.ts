/**
 * The durable run journal: every run, every finished step (model call, tool call, agent step,
 * decision, spawn) and every event of a run, in SQLite (`node:sqlite`, the embedded default).
 *
 * - A step is recorded when it finishes, before the next one starts; a resumed run looks each
 *   step up by its key and replays the recorded result instead of doing it again. A step that
 *   had started but not finished when the process died runs again (at-least-once), with the same
 *   idempotency key for side-effecting skills.
 * - A streamed model call is recorded only once its stream has finished: a stream cut by a crash
 *   is never replayed mid-output, the call runs again from its start.
 * - WAL with `synchronous = NORMAL`: a committed row survives a SIGKILL of the process.
 * - Writes are synchronous (`DatabaseSync`): a few tens of microseconds each, no event-loop
 *   round trip, and the order of rows is the order things happened.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { HarnessError } from '../errors.ts';
import type { RunEvent, Usage } from './events.ts';

/** How a run ended (or `running` while it runs or after its process died). */
export type JournalRunStatus = 'running' | 'succeeded' | 'failed' | 'aborted' | 'limit_exceeded';

/** A run as the journal knows it. */
export interface JournalRun {
  runId: string;
  council: string;
  input: string;
  tenant: string;
  /** Hash of the council definition the run started with (a resume needs the same one). */
  councilHash: string;
  status: JournalRunStatus;
  /** The process that runs (or last ran) it. */
  ownerPid: number;
  /** 1 for the first execution, +1 per resume. */
  attempts: number;
  createdAt: number;
  updatedAt: number;
  output?: string;
  error?: { code: string; message: string; details?: Record<string, unknown> };
  usage?: Usage;
  /** Run options worth keeping for a resume (priority, limits), JSON. */
  options: Record<string, unknown>;
}

/** A finished step. */
export interface JournalStep {
  key: string;
  kind: 'model' | 'tool' | 'agent' | 'decision' | 'spawn';
  /** What the step produced (model parts, tool output, agent result, decision value). */
  output: unknown;
  usage?: Usage;
  finishedAt: number;
}

export interface RunFilter {
  status?: JournalRunStatus;
  council?: string;
  /** Newest first; default 100. */
  limit?: number;
}

/**
 * The journal contract. `SqliteJournal` is the embedded implementation; an engine on another
 * store implements the same methods.
 */
export interface RunJournal {
  readonly location: string;
  createRun(run: Omit<JournalRun, 'attempts' | 'createdAt' | 'updatedAt' | 'status' | 'ownerPid'>): void;
  /** Claims an unfinished run for this process (attempts + 1); `unknown_run` or `resume_invalid` otherwise. */
  claimRun(runId: string): JournalRun;
  finishRun(
    runId: string,
    status: Exclude<JournalRunStatus, 'running'>,
    result: { output: string; usage: Usage; error?: JournalRun['error'] },
  ): void;
  getRun(runId: string): JournalRun | undefined;
  listRuns(filter?: RunFilter): JournalRun[];
  step(runId: string, key: string): JournalStep | undefined;
  stepCount(runId: string): number;
  recordStep(runId: string, step: Omit<JournalStep, 'finishedAt'>): void;
  appendEvent(event: RunEvent, attempt: number): void;
  /** Every journaled event of a run, in order, over all its attempts. */
  events(runId: string): Array<RunEvent & { attempt: number }>;
  close(): void;
}

const schema = `
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  council TEXT NOT NULL,
  input TEXT NOT NULL,
  tenant TEXT NOT NULL,
  council_hash TEXT NOT NULL,
  status TEXT NOT NULL,
  owner_pid INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  output TEXT,
  error TEXT,
  usage TEXT,
  options TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, created_at);
CREATE TABLE IF NOT EXISTS steps (
  run_id TEXT NOT NULL,
  key TEXT NOT NULL,
  kind TEXT NOT NULL,
  output TEXT NOT NULL,
  usage TEXT,
  finished_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
  run_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (run_id, attempt, seq)
) WITHOUT ROWID;
`;

interface Statements {
  insertRun: StatementSync;
  claim: StatementSync;
  finish: StatementSync;
  getRun: StatementSync;
  getStep: StatementSync;
  countSteps: StatementSync;
  putStep: StatementSync;
  putEvent: StatementSync;
  events: StatementSync;
}

export class SqliteJournal implements RunJournal {
  readonly location: string;
  readonly #db: DatabaseSync;
  readonly #s: Statements;

  /** Opens (and creates) the journal at `path`; `:memory:` for a journal that dies with the process. */
  constructor(path: string) {
    this.location = path;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.#db = new DatabaseSync(path, { timeout: 5000 });
      this.#db.exec('PRAGMA journal_mode = WAL');
      this.#db.exec('PRAGMA synchronous = NORMAL');
      this.#db.exec(schema);
    } catch (error) {
      throw journalError(`cannot open the run journal at ${path}`, error, [
        'check that the folder is writable and the file is a forge journal (or pass journal: false)',
      ]);
    }
    const db = this.#db;
    this.#s = {
      insertRun: db.prepare(
        `INSERT INTO runs (run_id, council, input, tenant, council_hash, status, owner_pid, attempts, created_at, updated_at, options)
         VALUES (?, ?, ?, ?, ?, 'running', ?, 1, ?, ?, ?)`,
      ),
      claim: db.prepare(
        `UPDATE runs SET owner_pid = ?, attempts = attempts + 1, updated_at = ? WHERE run_id = ? AND status = 'running'`,
      ),
      finish: db.prepare(
        'UPDATE runs SET status = ?, output = ?, usage = ?, error = ?, updated_at = ? WHERE run_id = ?',
      ),
      getRun: db.prepare('SELECT * FROM runs WHERE run_id = ?'),
      getStep: db.prepare('SELECT * FROM steps WHERE run_id = ? AND key = ?'),
      countSteps: db.prepare('SELECT count(*) AS n FROM steps WHERE run_id = ?'),
      putStep: db.prepare(
        'INSERT OR REPLACE INTO steps (run_id, key, kind, output, usage, finished_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      putEvent: db.prepare('INSERT OR REPLACE INTO events (run_id, attempt, seq, body) VALUES (?, ?, ?, ?)'),
      events: db.prepare('SELECT attempt, body FROM events WHERE run_id = ? ORDER BY attempt, seq'),
    };
  }

  createRun(run: Omit<JournalRun, 'attempts' | 'createdAt' | 'updatedAt' | 'status' | 'ownerPid'>): void {
    const now = Date.now();
    this.#write(() =>
      this.#s.insertRun.run(
        run.runId,
        run.council,
        run.input,
        run.tenant,
        run.councilHash,
        process.pid,
        now,
        now,
        JSON.stringify(run.options),
      ),
    );
  }

  claimRun(runId: string): JournalRun {
    const run = this.getRun(runId);
    if (!run) {
      throw new HarnessError('unknown_run', `no run ${runId} in the journal at ${this.location}`, {
        hint: 'list runs with `forge runs` (and check --journal points at the same file)',
      });
    }
    if (run.status !== 'running') {
      throw new HarnessError('resume_invalid', `run ${runId} already ended (${run.status})`, {
        hint: 'only unfinished runs can be resumed; start a new run instead',
        details: { status: run.status },
      });
    }
    if (run.ownerPid !== process.pid && processAlive(run.ownerPid)) {
      throw new HarnessError('resume_invalid', `run ${runId} is still running in process ${run.ownerPid}`, {
        hint: 'wait for it to end, or stop that process first',
        details: { ownerPid: run.ownerPid },
      });
    }
    this.#write(() => this.#s.claim.run(process.pid, Date.now(), runId));
    return { ...run, ownerPid: process.pid, attempts: run.attempts + 1 };
  }

  finishRun(
    runId: string,
    status: Exclude<JournalRunStatus, 'running'>,
    result: { output: string; usage: Usage; error?: JournalRun['error'] },
  ): void {
    this.#write(() =>
      this.#s.finish.run(
        status,
        result.output,
        JSON.stringify(result.usage),
        result.error === undefined ? null : JSON.stringify(result.error),
        Date.now(),
        runId,
      ),
    );
  }

  getRun(runId: string): JournalRun | undefined {
    const row = this.#s.getRun.get(runId) as RunRow | undefined;
    return row && toRun(row);
  }

  listRuns(filter: RunFilter = {}): JournalRun[] {
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (filter.status) {
      where.push('status = ?');
      args.push(filter.status);
    }
    if (filter.council) {
      where.push('council = ?');
      args.push(filter.council);
    }
    const sql = `SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, run_id LIMIT ?`;
    args.push(filter.limit ?? 100);
    return (this.#db.prepare(sql).all(...args) as unknown as RunRow[]).map(toRun);
  }

  step(runId: string, key: string): JournalStep | undefined {
    const row = this.#s.getStep.get(runId, key) as StepRow | undefined;
    if (!row) return undefined;
    return {
      key: row.key,
      kind: row.kind as JournalStep['kind'],
      output: JSON.parse(row.output),
      ...(row.usage === null ? {} : { usage: JSON.parse(row.usage) as Usage }),
      finishedAt: row.finished_at,
    };
  }

  stepCount(runId: string): number {
    return Number((this.#s.countSteps.get(runId) as { n: number }).n);
  }

  recordStep(runId: string, step: Omit<JournalStep, 'finishedAt'>): void {
    this.#write(() =>
      this.#s.putStep.run(
        runId,
        step.key,
        step.kind,
        JSON.stringify(step.output ?? null),
        step.usage === undefined ? null : JSON.stringify(step.usage),
        Date.now(),
      ),
    );
  }

  appendEvent(event: RunEvent, attempt: number): void {
    this.#write(() => this.#s.putEvent.run(event.runId, attempt, event.seq, JSON.stringify(event)));
  }

  events(runId: string): Array<RunEvent & { attempt: number }> {
    return (this.#s.events.all(runId) as Array<{ attempt: number; body: string }>).map((row) => ({
      ...(JSON.parse(row.body) as RunEvent),
      attempt: row.attempt,
    }));
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #write(write: () => unknown): void {
    try {
      write();
    } catch (error) {
      throw journalError(`cannot write to the run journal at ${this.location}`, error, [
        'check free disk space and that no other program holds the file locked',
      ]);
    }
  }
}

interface RunRow {
  run_id: string;
  council: string;
  input: string;
  tenant: string;
  council_hash: string;
  status: string;
  owner_pid: number;
  attempts: number;
  created_at: number;
  updated_at: number;
  output: string | null;
  error: string | null;
  usage: string | null;
  options: string;
}

interface StepRow {
  key: string;
  kind: string;
  output: string;
  usage: string | null;
  finished_at: number;
}

function toRun(row: RunRow): JournalRun {
  return {
    runId: row.run_id,
    council: row.council,
    input: row.input,
    tenant: row.tenant,
    councilHash: row.council_hash,
    status: row.status as JournalRunStatus,
    ownerPid: Number(row.owner_pid),
    attempts: Number(row.attempts),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    ...(row.output === null ? {} : { output: row.output }),
    ...(row.error === null ? {} : { error: JSON.parse(row.error) }),
    ...(row.usage === null ? {} : { usage: JSON.parse(row.usage) }),
    options: JSON.parse(row.options),
  };
}

/** True when a process with this pid exists (signal 0 only checks). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function journalError(message: string, cause: unknown, hints: string[]): HarnessError {
  const reason = cause instanceof Error ? `: ${cause.message}` : '';
  return new HarnessError('journal_error', `${message}${reason}`, { cause, hint: hints.join('; ') });
}

/** Opens a journal from `sqlite://path`, a plain path, or `:memory:`. */
export function openJournal(url: string): RunJournal {
  const path = url.startsWith('sqlite://') ? url.slice('sqlite://'.length) : url;
  if (path === '') {
    throw new HarnessError('config_invalid', `journal "${url}" names no file`, {
      hint: 'use sqlite://.forge/journal.db, a file path, or false to turn the journal off',
    });
  }
  return new SqliteJournal(path);
}
