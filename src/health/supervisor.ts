/**
 * The worker supervisor (seed §5.2, "node crash"): runs N worker processes that speak the worker
 * protocol (`runWorker`, `forge worker`; see worker.ts), hands them jobs, restarts one that exits
 * unasked (a crash, SIGKILL, the OOM killer) with exponential backoff, and gives up with a
 * `worker_crash_loop` error when one crashes more often than its restart budget allows.
 *
 * A restarted worker resumes the runs its predecessor left unfinished: at its start it claims
 * every run of the journal whose process is gone (`Harness.resumeAll`), so finished steps replay
 * from the journal and only the step in flight runs again. The supervisor follows those runs to
 * their end, so a `submit()` outlives the worker that started it.
 *
 * - Workers start one at a time (the next once the previous said `ready` or exited): a run is
 *   claimed by exactly one starting worker, never by two at once.
 * - Any exit the supervisor did not ask for counts as a crash, even code 0: a worker is meant to
 *   serve until it is stopped.
 * - `stop()` sends SIGTERM (and closes stdin): a worker takes no more jobs and lets its runs
 *   finish; after `stopGraceMs` it gets SIGKILL, and its unfinished runs stay in the journal for
 *   the next start.
 * - At-least-once: a worker that dies in the microseconds between writing a run to the journal and
 *   telling the supervisor leaves a run the supervisor does not know; the job is sent again, and
 *   the next worker also resumes that run (reported as a `run-result` without a job).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { HarnessError } from '../errors.ts';
import { checkOption } from '../runtime/scheduler/check-option.ts';
import type { WorkerCommand, WorkerJob, WorkerMessage, WorkerRunResult } from './worker.ts';

/** How crashed workers are restarted. */
export interface RestartPolicy {
  /** Delay before the first restart, ms; doubled after each crash in a row (default 100). */
  backoffMs?: number;
  /** Longest delay between restarts, ms (default 10 000). */
  maxBackoffMs?: number;
  /**
   * Restarts of one worker allowed within any 60 s; one more crash gives up (default 5; 0 gives
   * up at the first crash).
   */
  maxRestartsPerMinute?: number;
  /** A worker that ran at least this long before it crashed starts over at `backoffMs`, ms (default 10 000). */
  stableAfterMs?: number;
}

/** Options of {@link createSupervisor}: `script` or `command` (exactly one). */
export interface SupervisorOptions {
  /** A Node script run as each worker, with this Node (`process.execPath`) and `nodeArgs`. */
  script?: string;
  /** Any program run as each worker (it must speak the worker protocol, as `forge worker` does). */
  command?: string;
  /** Arguments after the script or command. */
  args?: string[];
  /** `script` only: Node options before the script (default `process.execArgv`, without `--inspect`). */
  nodeArgs?: string[];
  /** Environment of the workers (default `process.env`); each also gets `FORGE_WORKER_ID` (1..N). */
  env?: Record<string, string | undefined>;
  /** Working directory of the workers (default `process.cwd()`). */
  cwd?: string;
  /** Worker processes (default 1). */
  workers?: number;
  restart?: RestartPolicy;
  /** After SIGTERM, how long a stopping worker may finish its runs before SIGKILL, ms (default 10 000). */
  stopGraceMs?: number;
  /** A worker that has not said `ready` this long after it was spawned is killed (a crash), ms (default 30 000). */
  readyTimeoutMs?: number;
  /**
   * Workers' stderr (and stdout lines that are not protocol): `forward` writes each line to this
   * process's stderr as `[worker N] line`; `events` reports them as `worker-output` events only
   * (default `forward`). Either way the last lines go into a give-up error's details.
   */
  output?: 'forward' | 'events';
  /** Every supervisor event, as it happens. */
  onEvent?: (event: SupervisorEvent) => void;
}

/** What a supervisor reports, without its time. `worker` is the worker's number, 1..N (kept across restarts). */
export type SupervisorEventBody =
  | { type: 'worker-start'; worker: number; pid: number; restarts: number }
  | { type: 'worker-ready'; worker: number; pid: number; resumed: string[] }
  | {
      type: 'worker-exit';
      worker: number;
      pid: number | undefined;
      code: number | null;
      signal: NodeJS.Signals | null;
      /** True when the supervisor asked for it (`stop()`); otherwise it is a crash. */
      expected: boolean;
      uptimeMs: number;
      /** Why, in words: `exited with code 1`, `killed by SIGKILL`, `not ready within 30000 ms`. */
      reason: string;
    }
  | { type: 'worker-restart'; worker: number; restart: number; delayMs: number; reason: string }
  | { type: 'worker-gave-up'; worker: number; restarts: number; error: HarnessError }
  | {
      type: 'worker-output';
      worker: number;
      pid: number | undefined;
      stream: 'stdout' | 'stderr';
      line: string;
    }
  /** A run ended: a job's, or one a worker resumed with no job (from an earlier supervisor). */
  | { type: 'run-result'; worker: number; job?: WorkerJob; result: WorkerRunResult };

/** A supervisor event; `ts` is epoch ms. */
export type SupervisorEvent = { ts: number } & SupervisorEventBody;

/** Where a worker stands. */
export type WorkerState = 'starting' | 'ready' | 'backoff' | 'stopping' | 'stopped' | 'gave-up';

/** One worker as `workers()` shows it. */
export interface WorkerInfo {
  /** 1..N. */
  id: number;
  /** The process now, if one runs. */
  pid: number | undefined;
  state: WorkerState;
  /** Restarts since the supervisor started. */
  restarts: number;
  /** Runs in flight in this worker (its jobs and the runs it resumed). */
  runs: string[];
}

/** Counts for metrics and `/health`. */
export interface SupervisorStats {
  workers: number;
  ready: number;
  /** Jobs waiting for a ready worker. */
  queued: number;
  /** Runs in flight (sent jobs, resumed runs, and runs waiting for a restarted worker). */
  running: number;
  restarts: number;
}

export interface Supervisor {
  /**
   * Starts the workers, one at a time; resolves once every one has been ready (or the supervisor
   * stopped). Rejects with `worker_crash_loop` when one gives up first.
   */
  start(): Promise<void>;
  /**
   * Runs a job on the least busy ready worker (queued until one is ready) and resolves with its
   * result, also when the worker that started it crashed and a restarted one finished it. Failed
   * runs resolve (`status`, `error`); it rejects only when the job cannot be carried: invalid
   * (`prompt_invalid`), aborted before a worker took it (`aborted`), the supervisor stopped
   * first (`aborted`; the run resumes at the next start) or gave up (`worker_crash_loop`).
   * Aborting `signal` after a worker took it cancels the run (it ends `aborted`).
   */
  submit(job: WorkerJob, options?: { signal?: AbortSignal }): Promise<WorkerRunResult>;
  workers(): WorkerInfo[];
  stats(): SupervisorStats;
  /** Resolves when nothing is queued or running and no worker is starting (or the supervisor ended). */
  idle(): Promise<void>;
  /** Stops every worker (SIGTERM, SIGKILL after `stopGraceMs`); resolves when all have exited. */
  stop(): Promise<void>;
  /** Settles when the supervisor has ended: resolves after `stop()`, rejects with `worker_crash_loop`. */
  readonly done: Promise<void>;
}

const minute = 60_000;

/**
 * The restart budget of one worker: exponential backoff from `backoffMs` up to `maxBackoffMs`
 * (starting over after a stable run), and at most `maxRestartsPerMinute` restarts in any 60 s.
 */
export class RestartBudget {
  readonly #policy: Required<RestartPolicy>;
  /** When each restart of the last minute was decided, epoch ms. */
  readonly #recent: number[] = [];
  /** Crashes since the last stable run. */
  #inARow = 0;
  #total = 0;

  constructor(policy: Required<RestartPolicy>) {
    this.#policy = policy;
  }

  /** Restarts granted so far. */
  get total(): number {
    return this.#total;
  }

  /**
   * A worker that had been up `uptimeMs` crashed at `now`: the delay before its restart, or
   * `undefined` when the budget is spent (give up).
   */
  next(now: number, uptimeMs: number): { delayMs: number; restart: number } | undefined {
    if (uptimeMs >= this.#policy.stableAfterMs) this.#inARow = 0;
    while (this.#recent.length > 0 && (this.#recent[0] as number) <= now - minute) this.#recent.shift();
    if (this.#recent.length >= this.#policy.maxRestartsPerMinute) return undefined;
    const delayMs = Math.min(this.#policy.maxBackoffMs, this.#policy.backoffMs * 2 ** this.#inARow);
    this.#inARow++;
    this.#total++;
    this.#recent.push(now);
    return { delayMs, restart: this.#total };
  }

  /** Restarts within the minute before `now`. */
  recent(now: number): number {
    return this.#recent.filter((t) => t > now - minute).length;
  }
}

/** The defaults of {@link RestartPolicy}. */
export const defaultRestartPolicy: Readonly<Required<RestartPolicy>> = {
  backoffMs: 100,
  maxBackoffMs: 10_000,
  maxRestartsPerMinute: 5,
  stableAfterMs: 10_000,
};

interface Job {
  /** The supervisor's id for it on the wire (unique). */
  wireId: string;
  spec: WorkerJob;
  resolve: (result: WorkerRunResult) => void;
  reject: (error: HarnessError) => void;
  signal: AbortSignal | undefined;
  cancelled: boolean;
  runId?: string;
  onAbort?: () => void;
}

interface RunEntry {
  runId: string;
  job: Job | undefined;
  /** The worker running it; undefined while its worker is dead (an orphan). */
  slot: Slot | undefined;
  /** When its worker died (orphans only), epoch ms. */
  orphanedAt?: number;
  /** The worker asked for its verdict (see `lookup`). */
  lookupBy?: Slot;
}

interface Slot {
  id: number;
  state: WorkerState;
  proc: ChildProcess | undefined;
  pid: number | undefined;
  spawnedAt: number;
  budget: RestartBudget;
  runs: Set<string>;
  /** Jobs written to the worker that it has not `started` yet, in order. */
  sent: Job[];
  /** The last lines of its stderr (and stray stdout), for a give-up error. */
  tail: string[];
  backoff: NodeJS.Timeout | undefined;
  /** Settles the start chain's wait for this worker (ready or gone). */
  settleStart: (() => void) | undefined;
  /** Resolves when the current process has gone. */
  gone: Promise<void> | undefined;
  stopRequested: boolean;
  lastExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

/** Keeps the last stderr lines of a worker. */
const tailLines = 20;

/** Creates a supervisor (not started: call `start()`); see the module comment. */
export function createSupervisor(options: SupervisorOptions): Supervisor {
  return new WorkerSupervisor(options);
}

class WorkerSupervisor implements Supervisor {
  readonly #command: string;
  readonly #args: string[];
  readonly #env: Record<string, string | undefined>;
  readonly #cwd: string | undefined;
  readonly #graceMs: number;
  readonly #readyTimeoutMs: number;
  readonly #output: 'forward' | 'events';
  readonly #onEvent: ((event: SupervisorEvent) => void) | undefined;
  readonly #slots: Slot[];
  readonly #queue: Job[] = [];
  readonly #runs = new Map<string, RunEntry>();
  #jobSeq = 0;
  /** Workers start one after another: this is the tail of that chain. */
  #startChain: Promise<void> = Promise.resolve();
  #started: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #ended = false;
  #failure: HarnessError | undefined;
  readonly #waiters = new Set<() => void>();
  readonly done: Promise<void>;
  #settleDone!: { resolve: () => void; reject: (error: HarnessError) => void };

  constructor(options: SupervisorOptions) {
    const where = 'SupervisorOptions';
    if ((options.script === undefined) === (options.command === undefined)) {
      const path = `${where}.${options.script === undefined ? 'command' : 'script'}`;
      throw new HarnessError(
        'config_invalid',
        `${where} needs exactly one of script and command, got ${options.script === undefined ? 'neither' : 'both'}`,
        {
          location: { path },
          hint: 'script: a Node file run with this Node; command: any program that speaks the worker protocol',
          details: { option: path },
        },
      );
    }
    for (const key of ['script', 'command'] as const) {
      const value = options[key];
      if (value !== undefined && (typeof value !== 'string' || value === '')) {
        throw new HarnessError('config_invalid', `${where}.${key} must be a non-empty string`, {
          location: { path: `${where}.${key}` },
          hint: key === 'script' ? 'give the path of the worker script' : 'give the program to run',
          details: { option: `${where}.${key}`, value },
        });
      }
    }
    checkOption(`${where}.workers`, options.workers, { min: 1, integer: true });
    checkOption(`${where}.stopGraceMs`, options.stopGraceMs, { min: 0 });
    checkOption(`${where}.readyTimeoutMs`, options.readyTimeoutMs, { min: 0, exclusive: true });
    const restart = options.restart ?? {};
    checkOption(`${where}.restart.backoffMs`, restart.backoffMs, { min: 0 });
    checkOption(`${where}.restart.maxBackoffMs`, restart.maxBackoffMs, { min: 0 });
    checkOption(`${where}.restart.maxRestartsPerMinute`, restart.maxRestartsPerMinute, {
      min: 0,
      integer: true,
    });
    checkOption(`${where}.restart.stableAfterMs`, restart.stableAfterMs, { min: 0 });
    if (options.output !== undefined && options.output !== 'forward' && options.output !== 'events') {
      throw new HarnessError('config_invalid', `${where}.output must be "forward" or "events"`, {
        location: { path: `${where}.output` },
        hint: 'forward: workers’ stderr to this stderr; events: worker-output events only',
        details: { option: `${where}.output`, value: options.output },
      });
    }
    const policy: Required<RestartPolicy> = {
      backoffMs: restart.backoffMs ?? defaultRestartPolicy.backoffMs,
      maxBackoffMs:
        restart.maxBackoffMs ?? Math.max(defaultRestartPolicy.maxBackoffMs, restart.backoffMs ?? 0),
      maxRestartsPerMinute: restart.maxRestartsPerMinute ?? defaultRestartPolicy.maxRestartsPerMinute,
      stableAfterMs: restart.stableAfterMs ?? defaultRestartPolicy.stableAfterMs,
    };
    if (options.script !== undefined) {
      const nodeArgs = options.nodeArgs ?? process.execArgv.filter((a) => !/^--(inspect|debug)/.test(a));
      this.#command = process.execPath;
      this.#args = [...nodeArgs, options.script, ...(options.args ?? [])];
    } else {
      this.#command = options.command as string;
      this.#args = [...(options.args ?? [])];
    }
    this.#env = options.env ?? process.env;
    this.#cwd = options.cwd;
    this.#graceMs = options.stopGraceMs ?? 10_000;
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
    this.#output = options.output ?? 'forward';
    this.#onEvent = options.onEvent;
    this.#slots = Array.from({ length: options.workers ?? 1 }, (_, i) => ({
      id: i + 1,
      state: 'stopped' as WorkerState,
      proc: undefined,
      pid: undefined,
      spawnedAt: 0,
      budget: new RestartBudget(policy),
      runs: new Set<string>(),
      sent: [],
      tail: [],
      backoff: undefined,
      settleStart: undefined,
      gone: undefined,
      stopRequested: false,
      lastExit: undefined,
    }));
    this.done = new Promise<void>((resolve, reject) => {
      this.#settleDone = { resolve, reject };
    });
    // Only callers who await `done` see a give-up: unobserved, it is not an unhandled rejection.
    this.done.catch(() => {});
  }

  start(): Promise<void> {
    if (this.#started) return this.#started;
    if (this.#stopping) return Promise.reject(this.#failure ?? this.#notRunning());
    for (const slot of this.#slots) this.#launch(slot);
    this.#started = new Promise<void>((resolve, reject) => {
      const check = () => {
        if (this.#failure) reject(this.#failure);
        else if (this.#stopping || this.#slots.every((s) => s.state === 'ready' || s.state === 'gave-up')) {
          resolve();
        } else return false;
        return true;
      };
      if (!check()) this.#wait(check);
    });
    this.#started.catch(() => {});
    return this.#started;
  }

  submit(job: WorkerJob, options: { signal?: AbortSignal } = {}): Promise<WorkerRunResult> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#stopping) return Promise.reject(this.#notRunning());
    for (const key of ['council', 'input'] as const) {
      if (typeof job?.[key] !== 'string' || job[key].trim() === '') {
        return Promise.reject(
          new HarnessError('prompt_invalid', `WorkerJob.${key} must be a non-empty string`, {
            location: { path: `WorkerJob.${key}` },
            hint: key === 'council' ? 'name the council to run' : 'give the request text',
          }),
        );
      }
    }
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(abortedJob('before a worker took it', signal.reason));
    return new Promise<WorkerRunResult>((resolve, reject) => {
      const entry: Job = {
        wireId: `j${++this.#jobSeq}`,
        spec: job,
        resolve: (result) => {
          if (entry.onAbort) signal?.removeEventListener('abort', entry.onAbort);
          const { id: _wire, ...rest } = result;
          resolve({ ...rest, ...(job.id === undefined ? {} : { id: job.id }) });
        },
        reject: (error) => {
          if (entry.onAbort) signal?.removeEventListener('abort', entry.onAbort);
          reject(error);
        },
        signal,
        cancelled: false,
      };
      if (signal) {
        entry.onAbort = () => this.#cancel(entry);
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      this.#queue.push(entry);
      this.#dispatch();
    });
  }

  workers(): WorkerInfo[] {
    return this.#slots.map((s) => ({
      id: s.id,
      pid: s.proc ? s.pid : undefined,
      state: s.state,
      restarts: s.budget.total,
      runs: [...s.runs],
    }));
  }

  stats(): SupervisorStats {
    return {
      workers: this.#slots.length,
      ready: this.#slots.filter((s) => s.state === 'ready').length,
      queued: this.#queue.length,
      running: this.#runs.size + this.#slots.reduce((n, s) => n + s.sent.length, 0),
      restarts: this.#slots.reduce((n, s) => n + s.budget.total, 0),
    };
  }

  idle(): Promise<void> {
    return new Promise<void>((resolve) => {
      const check = () => {
        const busy =
          this.#queue.length > 0 ||
          this.#runs.size > 0 ||
          this.#slots.some((s) => s.sent.length > 0 || s.state === 'starting' || s.state === 'backoff');
        if (busy && !this.#ended) return false;
        resolve();
        return true;
      };
      if (!check()) this.#wait(check);
    });
  }

  stop(): Promise<void> {
    return this.#shutdown(undefined);
  }

  // ----- workers -----

  /** Queues a start of `slot`'s worker behind the workers starting now. */
  #launch(slot: Slot): void {
    slot.state = 'starting';
    this.#startChain = this.#startChain.then(() => this.#spawn(slot));
  }

  /** Spawns `slot`'s worker; resolves when it is ready or gone (the next one may start then). */
  #spawn(slot: Slot): Promise<void> {
    if (this.#stopping) {
      slot.state = 'stopped';
      this.#changed();
      return Promise.resolve();
    }
    const settled = new Promise<void>((resolve) => {
      slot.settleStart = resolve;
    });
    slot.spawnedAt = Date.now();
    slot.stopRequested = false;
    slot.tail = [];
    const proc = spawn(this.#command, this.#args, {
      cwd: this.#cwd,
      env: { ...this.#env, FORGE_WORKER_ID: String(slot.id) },
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group: a Ctrl-C at the terminal reaches the supervisor only, which then
      // stops the workers itself (a worker that saw the SIGINT first would look like a crash).
      detached: true,
    });
    slot.proc = proc;
    slot.pid = proc.pid;
    // A worker that died has a closed stdin: its exit is handled below, the write error is not news.
    proc.stdin?.on('error', () => {});
    let goneOnce = false;
    let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let readyTimer: NodeJS.Timeout | undefined;
    let lateClose: NodeJS.Timeout | undefined;
    let reason: string | undefined;
    slot.gone = new Promise<void>((resolveGone) => {
      const gone = (code: number | null, signal: NodeJS.Signals | null, why?: string) => {
        if (goneOnce) return;
        goneOnce = true;
        clearTimeout(readyTimer);
        clearTimeout(lateClose);
        this.#gone(slot, code, signal, reason ?? why);
        resolveGone();
      };
      // `close` comes after the last stdout line was read (a result written just before the exit
      // counts); `exit` is the fallback when a grandchild holds the pipes open.
      proc.on('close', (code, signal) => gone(exitInfo?.code ?? code, exitInfo?.signal ?? signal));
      proc.on('exit', (code, signal) => {
        exitInfo = { code, signal };
        lateClose = setTimeout(() => gone(code, signal), 2000);
      });
      proc.on('error', (error) => {
        // Spawning failed (no such program): there is no process to wait for.
        if (proc.pid === undefined) gone(null, null, `could not be started: ${error.message}`);
      });
    });
    if (proc.pid !== undefined) {
      this.#emit({ type: 'worker-start', worker: slot.id, pid: proc.pid, restarts: slot.budget.total });
      readyTimer = setTimeout(() => {
        reason = `not ready within ${this.#readyTimeoutMs} ms`;
        proc.kill('SIGKILL');
      }, this.#readyTimeoutMs);
    }
    const stdout = proc.stdout
      ? createInterface({ input: proc.stdout, crlfDelay: Number.POSITIVE_INFINITY })
      : undefined;
    stdout?.on('line', (line) => {
      const message = parseMessage(line);
      if (message) {
        if (message.type === 'ready') clearTimeout(readyTimer);
        this.#message(slot, message);
      } else this.#workerOutput(slot, 'stdout', line);
    });
    const stderr = proc.stderr
      ? createInterface({ input: proc.stderr, crlfDelay: Number.POSITIVE_INFINITY })
      : undefined;
    stderr?.on('line', (line) => this.#workerOutput(slot, 'stderr', line));
    return settled;
  }

  #workerOutput(slot: Slot, stream: 'stdout' | 'stderr', line: string): void {
    slot.tail.push(line);
    if (slot.tail.length > tailLines) slot.tail.shift();
    if (this.#output === 'forward') process.stderr.write(`[worker ${slot.id}] ${line}\n`);
    else this.#emit({ type: 'worker-output', worker: slot.id, pid: slot.pid, stream, line });
  }

  #message(slot: Slot, message: WorkerMessage): void {
    switch (message.type) {
      case 'ready': {
        slot.state = this.#stopping ? 'stopping' : 'ready';
        for (const runId of message.resumed) {
          const entry = this.#runs.get(runId) ?? { runId, job: undefined, slot: undefined };
          entry.slot = slot;
          delete entry.orphanedAt;
          delete entry.lookupBy;
          this.#runs.set(runId, entry);
          slot.runs.add(runId);
          if (entry.job?.cancelled) this.#send(slot, { type: 'cancel', runId });
        }
        // Orphans of workers that died before this one started, which it did not resume, ended
        // before their result reached us: the journal knows how.
        for (const entry of this.#runs.values()) {
          if (
            entry.slot === undefined &&
            entry.lookupBy === undefined &&
            (entry.orphanedAt ?? 0) < slot.spawnedAt
          ) {
            entry.lookupBy = slot;
            this.#send(slot, { type: 'lookup', runId: entry.runId });
          }
        }
        this.#emit({ type: 'worker-ready', worker: slot.id, pid: message.pid, resumed: message.resumed });
        slot.settleStart?.();
        slot.settleStart = undefined;
        this.#dispatch();
        break;
      }
      case 'started': {
        const at = slot.sent.findIndex((j) => j.wireId === message.id);
        const job = at < 0 ? undefined : slot.sent.splice(at, 1)[0];
        if (job) job.runId = message.runId;
        this.#runs.set(message.runId, { runId: message.runId, job, slot });
        slot.runs.add(message.runId);
        break;
      }
      case 'result': {
        // `id` on the wire is the supervisor's own job id; the caller's goes back in its place.
        const { type: _type, id: _wire, ...result } = message;
        const entry = this.#runs.get(result.runId);
        this.#runs.delete(result.runId);
        entry?.slot?.runs.delete(result.runId);
        slot.runs.delete(result.runId);
        const job = entry?.job;
        this.#emit({
          type: 'run-result',
          worker: slot.id,
          ...(job === undefined ? {} : { job: job.spec }),
          result: {
            ...result,
            ...(job?.spec.id === undefined ? {} : { id: job.spec.id }),
          },
        });
        job?.resolve(result);
        break;
      }
      case 'lookup': {
        // Neither ended nor resumable: nothing will finish it, so its job ends here.
        const entry = this.#runs.get(message.runId);
        if (entry?.slot !== undefined) break;
        this.#runs.delete(message.runId);
        entry?.job?.reject(
          new HarnessError(
            'journal_error',
            `run ${message.runId} was lost: its worker died and the journal has it ${message.status === 'unknown' ? 'not at all' : `running in process ${message.ownerPid}`}`,
            {
              hint: 'check that every worker uses the same journal file (forge runs --status interrupted)',
              details: { runId: message.runId, status: message.status },
            },
          ),
        );
        break;
      }
      case 'rejected': {
        const at = slot.sent.findIndex((j) => j.wireId === message.id);
        const job = at < 0 ? undefined : slot.sent.splice(at, 1)[0];
        job?.reject(
          new HarnessError(
            'prompt_invalid',
            `the worker refused the job: ${message.error.message}`,
            message.error.hint === undefined ? {} : { hint: message.error.hint },
          ),
        );
        break;
      }
    }
    this.#changed();
  }

  /** A worker process has gone: requeue what it had not started, orphan its runs, restart it or give up. */
  #gone(slot: Slot, code: number | null, signal: NodeJS.Signals | null, why: string | undefined): void {
    const now = Date.now();
    const uptimeMs = now - slot.spawnedAt;
    const expected = slot.stopRequested;
    const reason = why ?? (signal === null ? `exited with code ${code ?? 'unknown'}` : `killed by ${signal}`);
    slot.proc = undefined;
    slot.lastExit = { code, signal };
    this.#emit({
      type: 'worker-exit',
      worker: slot.id,
      pid: slot.pid,
      code,
      signal,
      expected,
      uptimeMs,
      reason,
    });
    // Jobs it never started go to another worker (or wait for one), unless they were cancelled.
    for (const job of slot.sent.filter((j) => j.cancelled)) {
      job.reject(abortedJob('before a worker started it', job.signal?.reason));
    }
    this.#queue.unshift(...slot.sent.filter((j) => !j.cancelled));
    slot.sent = [];
    for (const runId of slot.runs) {
      const entry = this.#runs.get(runId);
      if (entry) {
        entry.slot = undefined;
        entry.orphanedAt = now;
      }
    }
    slot.runs.clear();
    for (const entry of this.#runs.values()) if (entry.lookupBy === slot) delete entry.lookupBy;
    slot.settleStart?.();
    slot.settleStart = undefined;
    if (this.#stopping) {
      slot.state = 'stopped';
    } else {
      const next = slot.budget.next(now, uptimeMs);
      if (next === undefined) {
        slot.state = 'gave-up';
        const error = this.#crashLoop(slot, reason, now);
        this.#emit({ type: 'worker-gave-up', worker: slot.id, restarts: slot.budget.total, error });
        void this.#shutdown(error);
      } else {
        slot.state = 'backoff';
        this.#emit({
          type: 'worker-restart',
          worker: slot.id,
          restart: next.restart,
          delayMs: next.delayMs,
          reason,
        });
        slot.backoff = setTimeout(() => {
          slot.backoff = undefined;
          if (!this.#stopping) this.#launch(slot);
        }, next.delayMs);
      }
    }
    this.#dispatch();
    this.#changed();
  }

  #crashLoop(slot: Slot, reason: string, now: number): HarnessError {
    const recent = slot.budget.recent(now);
    return new HarnessError(
      'worker_crash_loop',
      `worker ${slot.id} crashed again (${reason}) after ${recent} restart${recent === 1 ? '' : 's'} within a minute; the supervisor gave up`,
      {
        hint:
          slot.tail.length > 0
            ? `its last output: ${slot.tail.slice(-3).join(' | ')}`
            : 'run the worker command by hand to see why it fails, or raise restart.maxRestartsPerMinute',
        details: {
          worker: slot.id,
          restarts: slot.budget.total,
          restartsLastMinute: recent,
          exit: slot.lastExit,
          reason,
          stderrTail: [...slot.tail],
        },
      },
    );
  }

  // ----- jobs -----

  /** Hands queued jobs to ready workers, the least busy first. */
  #dispatch(): void {
    while (this.#queue.length > 0 && !this.#stopping) {
      const ready = this.#slots.filter((s) => s.state === 'ready' && s.proc !== undefined);
      if (ready.length === 0) return;
      const slot = ready.reduce((a, b) =>
        b.runs.size + b.sent.length < a.runs.size + a.sent.length ? b : a,
      );
      const job = this.#queue.shift() as Job;
      slot.sent.push(job);
      this.#send(slot, {
        type: 'run',
        id: job.wireId,
        council: job.spec.council,
        input: job.spec.input,
        ...(job.spec.priority === undefined ? {} : { priority: job.spec.priority }),
        ...(job.spec.tenant === undefined ? {} : { tenant: job.spec.tenant }),
      });
    }
  }

  #send(slot: Slot, command: WorkerCommand): void {
    slot.proc?.stdin?.write(`${JSON.stringify(command)}\n`);
  }

  #cancel(job: Job): void {
    job.cancelled = true;
    const queued = this.#queue.indexOf(job);
    if (queued >= 0) {
      this.#queue.splice(queued, 1);
      job.reject(abortedJob('before a worker took it', job.signal?.reason));
      this.#changed();
      return;
    }
    const sentTo = this.#slots.find((s) => s.sent.includes(job));
    const entry = job.runId === undefined ? undefined : this.#runs.get(job.runId);
    if (sentTo) this.#send(sentTo, { type: 'cancel', id: job.wireId });
    // An orphan is cancelled when a worker resumes it (see `ready`).
    else if (entry?.slot) this.#send(entry.slot, { type: 'cancel', runId: entry.runId });
  }

  // ----- ending -----

  #shutdown(error: HarnessError | undefined): Promise<void> {
    if (this.#stopping) return this.#stopping;
    this.#failure = error;
    const ending = async () => {
      for (const job of this.#queue.splice(0)) {
        job.reject(error ?? abortedJob('the supervisor stopped before a worker took it', undefined));
      }
      const exits: Array<Promise<void>> = [];
      for (const slot of this.#slots) {
        clearTimeout(slot.backoff);
        slot.backoff = undefined;
        const proc = slot.proc;
        if (proc === undefined) {
          if (slot.state !== 'gave-up') slot.state = 'stopped';
          continue;
        }
        slot.state = 'stopping';
        slot.stopRequested = true;
        proc.kill('SIGTERM');
        proc.stdin?.end();
        const kill = setTimeout(() => proc.kill('SIGKILL'), this.#graceMs);
        exits.push((slot.gone ?? Promise.resolve()).finally(() => clearTimeout(kill)));
      }
      this.#changed();
      await Promise.all(exits);
      // Runs no worker finished stay in the journal; the next start resumes them.
      for (const entry of this.#runs.values()) {
        entry.job?.reject(
          error ??
            new HarnessError(
              'aborted',
              `the supervisor stopped before run ${entry.runId} ended; it resumes from the journal when a worker starts again`,
              { details: { runId: entry.runId } },
            ),
        );
      }
      this.#runs.clear();
      this.#ended = true;
      this.#changed();
      if (error) this.#settleDone.reject(error);
      else this.#settleDone.resolve();
    };
    this.#stopping = ending();
    this.#changed();
    return this.#stopping;
  }

  #notRunning(): HarnessError {
    return new HarnessError('harness_not_started', 'the supervisor was stopped', {
      hint: 'create a new supervisor',
    });
  }

  // ----- plumbing -----

  /** Calls `check` after every change until it returns true. */
  #wait(check: () => boolean): void {
    const waiter = () => {
      if (check()) this.#waiters.delete(waiter);
    };
    this.#waiters.add(waiter);
  }

  #changed(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  #emit(event: SupervisorEventBody): void {
    if (!this.#onEvent) return;
    try {
      this.#onEvent({ ts: Date.now(), ...event });
    } catch {
      // A failing listener must not break supervision.
    }
  }
}

function abortedJob(when: string, reason: unknown): HarnessError {
  return new HarnessError('aborted', `the job was aborted ${when}`, { cause: reason });
}

const messageTypes = new Set(['ready', 'started', 'result', 'lookup', 'rejected']);

/** A worker's stdout line as a protocol message, or undefined for any other output. */
function parseMessage(line: string): WorkerMessage | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value = JSON.parse(line) as { type?: unknown };
    return typeof value === 'object' && value !== null && messageTypes.has(value.type as string)
      ? (value as WorkerMessage)
      : undefined;
  } catch {
    return undefined;
  }
}
