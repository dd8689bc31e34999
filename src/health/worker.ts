/**
 * The worker side of the supervisor (`forge worker`): a process that resumes the runs its dead
 * predecessors left unfinished, then runs the jobs it is given, over a line-delimited JSON
 * protocol on stdin/stdout. The supervisor (`createSupervisor`, `forge supervise`) speaks it; so
 * can anything else (`echo '{"council":"Support","input":"hi"}' | forge worker --config f.yaml`).
 *
 * Protocol, version 1: one JSON object per line, each with a `type`.
 *
 * To the worker (stdin):
 * - `{"type":"run","id":"j1","council":"Support","input":"…","priority":"high","tenant":"acme"}`:
 *   a run (`type`, `id`, `priority` and `tenant` may be left out).
 * - `{"type":"cancel","id":"j1"}` or `{"type":"cancel","runId":"run_…"}`: aborts that run (it ends
 *   `aborted`, with a `result` line as usual).
 * - `{"type":"lookup","runId":"run_…"}`: the journal's verdict on a run this worker does not own
 *   (the supervisor asks when a worker died between the end of a run and its `result` line).
 *
 * From the worker (stdout):
 * - `{"type":"ready","pid":123,"resumed":["run_…"]}`: once, after every interrupted run of the
 *   journal has been claimed (resumed); nothing else is read or written before it.
 * - `{"type":"started","id":"j1","runId":"run_…"}`: the job's run exists in the journal.
 * - `{"type":"result","runId":"run_…","id":"j1","council":"Support","status":"succeeded",
 *   "output":"…","usage":{…},"durationMs":812}`, plus `error` (`{code,message,hint?}`) unless it
 *   succeeded, `confidence` when measured, `resumed: true` for a resumed run (no `id`) and
 *   `lookup: true` for an answer to a lookup.
 * - `{"type":"lookup","runId":"run_…","status":"running"|"unknown","ownerPid":123}`: a lookup of a
 *   run that has not ended (or that the journal does not have).
 * - `{"type":"rejected","line":3,"id":"j1","error":{…}}`: a line that is not a job (bad JSON,
 *   missing `council` or `input`); nothing ran.
 *
 * Stopping: at the end of stdin, or when `signal` aborts, the worker reads no more jobs, lets the
 * runs in flight finish, and returns. A worker killed before they finish leaves them `running` in
 * the journal, and the next worker to start resumes them.
 */
import { createInterface } from 'node:readline';
import { HarnessError, toHarnessError } from '../errors.ts';
import type { Harness, RunOptions } from '../runtime/harness.ts';
import type { Run, RunResult, RunStatus } from '../runtime/run.ts';
import type { Priority } from '../runtime/scheduler/types.ts';

/** Version of the worker protocol (the module comment describes it). */
export const workerProtocolVersion = 1;

/** A job: one council run. */
export interface WorkerJob {
  /** Echoed in `started` and `result`, so the sender can match them (optional). */
  id?: string;
  council: string;
  input: string;
  priority?: Priority;
  tenant?: string;
}

/** A secret-free error as the protocol carries it. */
export interface WorkerError {
  code: string;
  message: string;
  hint?: string;
}

/** A run's end as the `result` line carries it. */
export interface WorkerRunResult {
  runId: string;
  /** The job id, when the run was a job with one. */
  id?: string;
  council: string;
  status: RunStatus;
  output: string;
  usage: RunResult['usage'];
  durationMs: number;
  error?: WorkerError;
  confidence?: number;
  /** A run resumed from the journal at the worker's start. */
  resumed?: true;
  /** An answer to a `lookup` (read from the journal, not run here). */
  lookup?: true;
}

/** Every line a worker writes. */
export type WorkerMessage =
  | { type: 'ready'; pid: number; protocol: number; resumed: string[] }
  | { type: 'started'; id?: string; runId: string }
  | ({ type: 'result' } & WorkerRunResult)
  | { type: 'lookup'; runId: string; status: 'running' | 'unknown'; ownerPid?: number }
  | { type: 'rejected'; line: number; id?: string; error: WorkerError };

/** Every line a worker reads. */
export type WorkerCommand =
  | ({ type?: 'run' } & WorkerJob)
  | { type: 'cancel'; id?: string; runId?: string }
  | { type: 'lookup'; runId: string };

/** What a worker needs of a harness (a `Harness` is one). */
export type WorkerHarness = Pick<Harness, 'run' | 'resumeAll' | 'journal'>;

export interface WorkerOptions {
  /** Where commands come from, one JSON object per line (default `process.stdin`). */
  input?: NodeJS.ReadableStream;
  /** Writes one protocol line, newline included (default: to `process.stdout`). */
  write?: (line: string) => void;
  /** Stops the worker: no more commands are read, runs in flight finish, then it returns. */
  signal?: AbortSignal;
}

/** What a worker did, when it returns. */
export interface WorkerSummary {
  /** Runs resumed at the start. */
  resumed: string[];
  /** Jobs run (resumed runs not included). */
  jobs: number;
  /** Runs (resumed ones included) that ended `succeeded`. */
  succeeded: number;
  /** Runs that ended otherwise. */
  failed: number;
  /** Lines rejected as no command. */
  rejected: number;
}

/**
 * Serves as a worker on `harness`: resumes every interrupted run of the journal (runs whose
 * process is gone), says `ready`, then runs each job it reads until its input ends or `signal`
 * aborts; resolves once every run it started or resumed has ended. Needs the run journal (a
 * worker that cannot resume is no use under a supervisor): throws `journal_error` without one.
 */
export async function runWorker(harness: WorkerHarness, options: WorkerOptions = {}): Promise<WorkerSummary> {
  const write = options.write ?? ((line: string) => void process.stdout.write(line));
  const send = (message: WorkerMessage) => write(`${JSON.stringify(message)}\n`);
  const signal = options.signal;
  if (harness.journal === undefined) {
    throw new HarnessError(
      'journal_error',
      'a worker needs the run journal, and it is off for this harness',
      {
        hint: 'remove `journal: false` from the config (a worker resumes its predecessors’ runs from it)',
      },
    );
  }
  const summary: WorkerSummary = { resumed: [], jobs: 0, succeeded: 0, failed: 0, rejected: 0 };
  const inFlight = new Map<string, { run: Run; controller?: AbortController; id?: string }>();
  const byJobId = new Map<string, string>();
  const ended: Array<Promise<void>> = [];

  const track = (run: Run, extra: { controller?: AbortController; id?: string; resumed?: true }) => {
    inFlight.set(run.runId, { run, ...extra });
    if (extra.id !== undefined) byJobId.set(extra.id, run.runId);
    ended.push(
      run.result.then((result) => {
        inFlight.delete(run.runId);
        if (extra.id !== undefined && byJobId.get(extra.id) === run.runId) byJobId.delete(extra.id);
        if (result.status === 'succeeded') summary.succeeded++;
        else summary.failed++;
        send({
          type: 'result',
          ...resultOf(result),
          ...(extra.id === undefined ? {} : { id: extra.id }),
          ...(extra.resumed ? { resumed: true as const } : {}),
        });
      }),
    );
  };

  // Claims happen synchronously inside resumeAll(): by `ready`, every interrupted run is ours.
  const resumed = harness.resumeAll();
  for (const run of resumed) track(run, { resumed: true });
  summary.resumed = resumed.map((r) => r.runId);
  send({ type: 'ready', pid: process.pid, protocol: workerProtocolVersion, resumed: summary.resumed });

  const input = options.input ?? process.stdin;
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let lineNo = 0;
  const handle = (line: string) => {
    lineNo++;
    if (line.trim() === '') return;
    let command: WorkerCommand;
    try {
      command = parseCommand(line, lineNo);
    } catch (error) {
      summary.rejected++;
      const e = toHarnessError(error);
      const id = idOf(line);
      send({ type: 'rejected', line: lineNo, ...(id === undefined ? {} : { id }), error: errorOf(e) });
      return;
    }
    if (command.type === 'cancel') {
      const runId = command.runId ?? (command.id === undefined ? undefined : byJobId.get(command.id));
      const entry = runId === undefined ? undefined : inFlight.get(runId);
      entry?.controller?.abort(new HarnessError('aborted', `run ${runId} was cancelled by its sender`));
      return;
    }
    if (command.type === 'lookup') {
      send(lookup(harness, command.runId));
      return;
    }
    const controller = new AbortController();
    const runOptions: RunOptions = {
      signal: controller.signal,
      ...(command.priority === undefined ? {} : { priority: command.priority }),
      ...(command.tenant === undefined ? {} : { tenant: command.tenant }),
    };
    // run() writes the run to the journal before it returns: `started` means it can be resumed.
    const run = harness.run(command.council, command.input, runOptions);
    summary.jobs++;
    send({ type: 'started', ...(command.id === undefined ? {} : { id: command.id }), runId: run.runId });
    track(run, { controller, ...(command.id === undefined ? {} : { id: command.id }) });
  };
  lines.on('line', handle);

  await new Promise<void>((resolve) => {
    const stop = () => {
      lines.off('line', handle);
      lines.close();
      resolve();
    };
    if (signal?.aborted) return stop();
    signal?.addEventListener('abort', stop, { once: true });
    lines.once('close', () => {
      signal?.removeEventListener('abort', stop);
      resolve();
    });
  });
  // Runs started by the last lines, and every one still in flight, end before the worker does.
  for (let done = 0; done < ended.length; ) {
    const batch = ended.slice(done);
    done += batch.length;
    await Promise.all(batch);
  }
  return summary;
}

/** A `result` line's fields from a run's result. */
function resultOf(result: RunResult): WorkerRunResult {
  return {
    runId: result.runId,
    council: result.council,
    status: result.status,
    output: result.output,
    usage: result.usage,
    durationMs: result.durationMs,
    ...(result.error === undefined ? {} : { error: errorOf(result.error) }),
    ...(result.confidence === undefined ? {} : { confidence: result.confidence }),
  };
}

function errorOf(error: HarnessError): WorkerError {
  return {
    code: error.code,
    message: error.message,
    ...(error.hint === undefined ? {} : { hint: error.hint }),
  };
}

/** The journal's verdict on a run: its result when it ended, else where it stands. */
function lookup(harness: WorkerHarness, runId: string): WorkerMessage {
  const record = harness.journal?.getRun(runId);
  if (record === undefined) return { type: 'lookup', runId, status: 'unknown' };
  if (record.status === 'running') {
    return { type: 'lookup', runId, status: 'running', ownerPid: record.ownerPid };
  }
  return {
    type: 'result',
    runId,
    council: record.council,
    status: record.status,
    output: record.output ?? '',
    usage: record.usage ?? { inputTokens: 0, outputTokens: 0, costUsd: 0, modelCalls: 0 },
    durationMs: record.updatedAt - record.createdAt,
    ...(record.error === undefined
      ? {}
      : { error: { code: record.error.code, message: record.error.message } }),
    lookup: true,
  };
}

const priorities: readonly string[] = ['high', 'normal', 'low'];

/** One protocol line as a command; `prompt_invalid` naming the line and field otherwise. */
export function parseCommand(line: string, lineNo: number): WorkerCommand {
  const bad = (what: string, hint: string) =>
    new HarnessError('prompt_invalid', `line ${lineNo}: ${what}`, {
      hint,
      location: { path: `line ${lineNo}` },
    });
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw bad('not JSON', 'send one JSON object per line, e.g. {"council":"Support","input":"Hi"}');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw bad('not a JSON object', 'send one JSON object per line, e.g. {"council":"Support","input":"Hi"}');
  }
  const o = value as Record<string, unknown>;
  const optionalString = (key: string) => {
    if (o[key] !== undefined && typeof o[key] !== 'string') {
      throw bad(`"${key}" must be a string`, `give ${key} as a string, or leave it out`);
    }
    return o[key] as string | undefined;
  };
  const type = o.type ?? 'run';
  if (type === 'cancel') {
    const id = optionalString('id');
    const runId = optionalString('runId');
    if (id === undefined && runId === undefined) {
      throw bad('cancel names no run', 'give the job "id" or the "runId" to cancel');
    }
    return { type, ...(id === undefined ? {} : { id }), ...(runId === undefined ? {} : { runId }) };
  }
  if (type === 'lookup') {
    const runId = optionalString('runId');
    if (runId === undefined) throw bad('lookup names no run', 'give the "runId" to look up');
    return { type, runId };
  }
  if (type !== 'run') {
    throw bad(`unknown type ${JSON.stringify(type)}`, 'type is one of: run (the default), cancel, lookup');
  }
  const id = optionalString('id');
  const council = optionalString('council');
  const input = optionalString('input');
  const tenant = optionalString('tenant');
  if (council === undefined || council === '') {
    throw bad('"council" is missing', 'name the council to run, e.g. {"council":"Support","input":"Hi"}');
  }
  if (input === undefined || input.trim() === '') {
    throw bad('"input" is missing or empty', 'give the request text as "input"');
  }
  if (o.priority !== undefined && !priorities.includes(o.priority as string)) {
    throw bad(`"priority" ${JSON.stringify(o.priority)} is not a priority`, 'use high, normal or low');
  }
  return {
    type: 'run',
    council,
    input,
    ...(id === undefined ? {} : { id }),
    ...(o.priority === undefined ? {} : { priority: o.priority as Priority }),
    ...(tenant === undefined ? {} : { tenant }),
  };
}

/** The `id` of a line that is a JSON object with a string id, to echo in `rejected`. */
function idOf(line: string): string | undefined {
  try {
    const value = JSON.parse(line) as { id?: unknown };
    return typeof value?.id === 'string' ? value.id : undefined;
  } catch {
    return undefined;
  }
}
