/**
 * The durable run journal: every run, every finished step (model call, tool call, agent step,
 * decision, spawn) and every event of a run, in SQLite (`node:sqlite`, the embedded default).
 *
 * - A step is recorded when it finishes, before the next one starts: `recordStep` commits before
 *   it returns. A resumed run looks each step up by its key and replays the recorded result
 *   instead of doing it again. A step that had started but not finished when the process died
 *   runs again (at-least-once), with the same idempotency key for side-effecting skills.
 * - A streamed model call is recorded only once its stream has finished: a stream cut by a crash
 *   is never replayed mid-output, the call runs again from its start.
 * - Events are batched: `appendEvent` buffers, and the buffer is written in one transaction at
 *   the end of the event-loop turn (`setImmediate`), or earlier with the next synchronous write
 *   (`createRun`, `claimRun`, `recordStep`, `finishRun`) in that write's transaction, or when
 *   {@link maxPendingEvents} are waiting. A commit costs about as much again as the row it
 *   writes (file locks, and a WAL append of every page it touched), and a run emits two or three
 *   events per step: a two-agent run commits 7 times instead of 23 (bench/RESULTS.md, `journal`).
 *   Nothing is lost at `finishRun` (a run's end is committed with every event before it), at
 *   `close()`, or by a reader in this process (`events()` writes the buffer first); a crash
 *   (SIGKILL) loses at most the events of the turn it interrupted, never a step or a run's end.
 *   A buffered batch that fails to commit stays buffered, and the next synchronous write (or
 *   `close()`) throws `journal_error` for it.
 * - Runs, steps and run ends are still one synchronous write each (`DatabaseSync`): a few tens
 *   of microseconds, no event-loop round trip, and rows land in the order things happened.
 *   A run this journal created looks its steps up in memory until it ends: only keys it recorded
 *   can be in SQLite, so the misses every new step starts with cost no query.
 * - WAL with `synchronous = NORMAL`: a committed row survives a SIGKILL of the process, and a
 *   commit does not fsync. The checkpoints that copy the WAL into the file (and fsync, which can
 *   take tens of milliseconds on a busy disk) run in a worker thread with its own connection,
 *   every {@link checkpointEvery} commits, so they never stall the event loop; when the worker
 *   cannot run, the connection checkpoints itself as SQLite does by default. `close()` waits for
 *   the worker's connection to close, so the writer's is the last: it merges the rest of the WAL
 *   into the file and removes it, as it did without a worker.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
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
  /** Writes what is buffered (events) and closes the file; later writes throw `journal_error`. */
  close(): void;
}

/**
 * Events buffered at most before they are written at once, without waiting for the end of the
 * turn: bounds the memory a burst of events holds and the events a crash can lose.
 */
export const maxPendingEvents = 4096;

/**
 * Commits between two background checkpoints. A commit adds a few 4 KiB pages to the WAL, so the
 * WAL stays around a few MiB, as with SQLite's own default (1000 pages).
 */
export const checkpointEvery = 256;

/**
 * WAL frames (4 KiB pages) past which this connection finishes a background checkpoint itself:
 * 16 384 frames = 64 MiB. The WAL starts over only when a write begins while it is fully
 * checkpointed, and under commits without a pause (an event loop that never idles) the worker
 * never quite catches up; then the writer copies the frames committed since the worker's last
 * checkpoint itself, fsyncs included, to let the WAL restart. That is one stall of the event loop
 * per 64 MiB of WAL (0.1–0.2 s measured on a busy 2-vCPU VM, about every 900 two-agent runs) —
 * where SQLite's own default stalls every 4 MiB, for a few to tens of ms each. With any idle
 * moment the WAL restarts by itself and this never happens.
 */
export const walHighWater = 16_384;

/**
 * The checkpoint worker, an ES module loaded from a `data:` URL (so it needs no file of its own in
 * src/ or dist/, and does not depend on how the process treats eval'd code): its own connection
 * to the journal, one PASSIVE checkpoint per `checkpoint` message (it never blocks the writer),
 * its result posted back; `close` closes the connection and ends it.
 */
const checkpointerSource = `
import { parentPort, workerData } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
// Set to 1 once this connection is closed (or never opened): the writer's close() waits for it.
const closed = new Int32Array(workerData.closed);
const signalClosed = () => {
  Atomics.store(closed, 0, 1);
  Atomics.notify(closed, 0);
};
// However this thread ends, a waiting close() goes on.
process.on('exit', signalClosed);
let db;
try {
  // Never create a file: a journal that is gone is the writer's business, not the checkpointer's.
  if (!existsSync(workerData.path)) throw new Error('the journal file ' + workerData.path + ' is gone');
  db = new DatabaseSync(workerData.path, { timeout: workerData.busyTimeoutMs });
} catch (error) {
  signalClosed();
  throw error;
}
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    signalClosed();
    parentPort.close();
    return;
  }
  try {
    const result = checkpoint.get();
    parentPort.postMessage({ busy: Number(result.busy), log: Number(result.log), checkpointed: Number(result.checkpointed) });
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
});
`;

/**
 * How long `close()` waits at most for the checkpoint worker to close its connection (ms): a
 * checkpoint in progress finishes first. Then the writer's is the last connection, which copies
 * the rest of the WAL into the file and removes it before `close()` returns, as without a worker.
 */
const workerCloseWaitMs = 5000;

/** What the checkpoint worker has done so far (see {@link SqliteJournal.checkpoints}). */
export interface CheckpointStats {
  /** True while checkpoints run in the worker thread; false for `:memory:` or after it failed. */
  background: boolean;
  /** Background checkpoints finished. */
  done: number;
  /** Checkpoints this connection ran itself to let the WAL restart (see {@link walHighWater}). */
  catchUps: number;
  /** The last one: WAL frames in the log and frames copied into the file (-1 before the first). */
  lastLog: number;
  lastCheckpointed: number;
}

/**
 * Runs at most whose step lookups skip SQLite (see `SqliteJournal`); beyond, lookups ask SQLite,
 * so runs that never end (a caller that never calls `finishRun`) cannot grow the map forever.
 */
const maxFreshRuns = 100_000;

/** One buffered event row. */
interface PendingEvent {
  runId: string;
  attempt: number;
  seq: number;
  /** The event as JSON, taken when it was appended (later changes to the object do not count). */
  body: string;
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
  begin: StatementSync;
  commit: StatementSync;
}

/** Options of {@link SqliteJournal}. */
export interface SqliteJournalOptions {
  /**
   * How long a write waits for another process's write lock on the same file before it fails
   * with `journal_error`, in ms (default 5000).
   */
  busyTimeoutMs?: number;
}

/** The embedded journal: one SQLite file (WAL), shared safely by the processes that open it. */
export class SqliteJournal implements RunJournal {
  readonly location: string;
  readonly #db: DatabaseSync;
  readonly #s: Statements;
  /** Events appended but not written yet, in order. */
  #pending: PendingEvent[] = [];
  /** The end-of-turn write of `#pending`, while one is scheduled. */
  #flushing: NodeJS.Immediate | undefined;
  readonly #busyTimeoutMs: number;
  /** The file as an absolute path (the checkpoint worker opens it). */
  readonly #file: string;
  /** Commits since the last checkpoint request. */
  #commits = 0;
  /** Started at the first checkpoint request. */
  #checkpointer: Worker | undefined;
  /** The worker sets `[0]` to 1 once its connection is closed (see `close()`). */
  readonly #workerClosed = new Int32Array(new SharedArrayBuffer(4));
  /** A checkpoint request is out (one at a time: they would only queue up behind each other). */
  #checkpointing = false;
  /**
   * Runs this journal created and has not seen end, with the keys of the steps it recorded for
   * them: a lookup of any other key of such a run is a miss without asking SQLite (a new run's
   * steps are all looked up before they run, and only the journal that created a run writes its
   * steps until it ends or is claimed).
   */
  readonly #fresh = new Map<string, Set<string>>();
  readonly #checkpoints: CheckpointStats = {
    background: false,
    done: 0,
    catchUps: 0,
    lastLog: -1,
    lastCheckpointed: -1,
  };

  /** Opens (and creates) the journal at `path`; `:memory:` for a journal that dies with the process. */
  constructor(path: string, options: SqliteJournalOptions = {}) {
    this.location = path;
    this.#busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.#file = path === ':memory:' ? path : resolve(path);
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.#db = new DatabaseSync(path, { timeout: this.#busyTimeoutMs });
      this.#db.exec('PRAGMA journal_mode = WAL');
      this.#db.exec('PRAGMA synchronous = NORMAL');
      this.#db.exec(schema);
      if (path !== ':memory:') {
        // Checkpoints move to the worker (see the module comment).
        this.#db.exec('PRAGMA wal_autocheckpoint = 0');
        this.#checkpoints.background = true;
      }
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
      // Prepared once: a batch's transaction is parsed once per journal, not once per write.
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
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
    if (this.#fresh.size < maxFreshRuns) this.#fresh.set(run.runId, new Set());
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
    this.#fresh.delete(runId);
    this.#write(() => this.#s.claim.run(process.pid, Date.now(), runId));
    return { ...run, ownerPid: process.pid, attempts: run.attempts + 1 };
  }

  finishRun(
    runId: string,
    status: Exclude<JournalRunStatus, 'running'>,
    result: { output: string; usage: Usage; error?: JournalRun['error'] },
  ): void {
    this.#fresh.delete(runId);
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
    if (this.#fresh.get(runId)?.has(key) === false) return undefined;
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
    this.#fresh.get(runId)?.add(step.key);
  }

  /**
   * Buffers the event; it is written at the end of this event-loop turn, or with the next
   * synchronous write (see the module comment). Throws `journal_error` once the journal is closed.
   */
  appendEvent(event: RunEvent, attempt: number): void {
    if (!this.#db.isOpen) {
      throw journalError(`cannot write to the run journal at ${this.location}: it is closed`, undefined, [
        'keep the journal open until every run that uses it has ended',
      ]);
    }
    this.#pending.push({ runId: event.runId, attempt, seq: event.seq, body: JSON.stringify(event) });
    if (this.#pending.length >= maxPendingEvents) this.#write();
    else this.#flushing ??= setImmediate(this.#flushSoon);
  }

  /** The end-of-turn write. A failure keeps the batch buffered: the next synchronous write reports it. */
  readonly #flushSoon = (): void => {
    this.#flushing = undefined;
    if (this.#pending.length === 0 || !this.#db.isOpen) return;
    try {
      this.#write();
    } catch {
      // Reported by the next createRun/claimRun/recordStep/finishRun/close, which retries the batch.
    }
  };

  events(runId: string): Array<RunEvent & { attempt: number }> {
    // This process's buffered events are part of the answer.
    if (this.#pending.length > 0) this.#write();
    return (this.#s.events.all(runId) as Array<{ attempt: number; body: string }>).map((row) => ({
      ...(JSON.parse(row.body) as RunEvent),
      attempt: row.attempt,
    }));
  }

  /** What the background checkpoints have done (for tests and diagnostics). */
  get checkpoints(): Readonly<CheckpointStats> {
    return { ...this.#checkpoints };
  }

  close(): void {
    this.#fresh.clear();
    if (this.#flushing) clearImmediate(this.#flushing);
    this.#flushing = undefined;
    const worker = this.#checkpointer;
    this.#checkpointer = undefined;
    this.#checkpoints.background = false;
    if (worker) {
      // Blocking, like the last checkpoint below: the worker closes after a checkpoint in progress.
      worker.postMessage('close');
      Atomics.wait(this.#workerClosed, 0, 0, workerCloseWaitMs);
    }
    if (!this.#db.isOpen) return;
    try {
      if (this.#pending.length > 0) this.#write();
    } finally {
      this.#db.close();
    }
  }

  #committed(): void {
    if (!this.#checkpoints.background || ++this.#commits < checkpointEvery || this.#checkpointing) return;
    this.#commits = 0;
    this.#checkpointing = true;
    this.#checkpointer ??= this.#startCheckpointer();
    this.#checkpointer?.postMessage('checkpoint');
  }

  #startCheckpointer(): Worker | undefined {
    let worker: Worker;
    try {
      worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(checkpointerSource)}`), {
        // Absolute: the process may have changed its working directory since the journal opened.
        workerData: {
          path: this.#file,
          busyTimeoutMs: this.#busyTimeoutMs,
          closed: this.#workerClosed.buffer,
        },
      });
    } catch {
      this.#checkpointInForeground();
      return undefined;
    }
    worker.on('message', (result: { log?: number; checkpointed?: number; error?: string }) => {
      this.#checkpointing = false;
      if (result.error !== undefined) return; // e.g. busy: the next request tries again
      this.#checkpoints.done++;
      this.#checkpoints.lastLog = result.log ?? -1;
      this.#checkpoints.lastCheckpointed = result.checkpointed ?? -1;
      if (this.#checkpoints.lastLog > walHighWater && this.#db.isOpen) this.#catchUp();
    });
    const failed = () => {
      if (this.#checkpointer === worker) this.#checkpointInForeground();
    };
    worker.on('error', failed);
    worker.on('exit', failed);
    // Never what keeps the process alive (what is committed is safe in the WAL without it). After
    // the listeners: the first 'message' listener refs the worker's port again.
    worker.unref();
    return worker;
  }

  /** Copies what the worker has not (frames committed since its checkpoint began) so the WAL restarts. */
  #catchUp(): void {
    try {
      this.#db.exec('PRAGMA wal_checkpoint(PASSIVE)');
      this.#checkpoints.catchUps++;
    } catch {
      // Busy (another process reads or writes): the next background checkpoint comes back here.
    }
  }

  /** The worker cannot run or died: the connection checkpoints itself again (SQLite's default). */
  #checkpointInForeground(): void {
    this.#checkpointer = undefined;
    this.#checkpointing = false;
    this.#checkpoints.background = false;
    if (this.#db.isOpen) this.#db.exec('PRAGMA wal_autocheckpoint = 1000');
  }

  /**
   * Commits the buffered events and then `write` (when given) in one transaction, or `write` on
   * its own when nothing is buffered. The buffer is emptied only once its rows are committed.
   */
  #write(write?: () => unknown): void {
    const pending = this.#pending;
    try {
      if (pending.length === 0) {
        if (write) {
          write();
          this.#committed();
        }
        return;
      }
      this.#s.begin.run();
      try {
        const put = this.#s.putEvent;
        for (const e of pending) put.run(e.runId, e.attempt, e.seq, e.body);
        write?.();
        this.#s.commit.run();
      } catch (error) {
        if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
        throw error;
      }
      this.#pending = [];
      this.#committed();
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
