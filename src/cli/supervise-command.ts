/**
 * `forge supervise` runs N `forge worker` processes under the supervisor (src/health/supervisor.ts):
 * a crashed worker is restarted and resumes its runs from the journal. `forge worker` is one such
 * process: it resumes the interrupted runs of the journal, then runs the jobs it reads on stdin
 * (the worker protocol, src/health/worker.ts).
 */
import { extname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { HarnessError, type HarnessErrorCode } from '../errors.ts';
import { createSupervisor, type SupervisorEvent } from '../health/supervisor.ts';
import { parseCommand, runWorker, type WorkerRunResult } from '../health/worker.ts';
import { Harness } from '../runtime/harness.ts';
import { endpointOverrides, parse, usageError } from './args.ts';
import type { Command } from './commands.ts';
import { exitCodeFor, exitCodes } from './exit-codes.ts';
import { formatMs } from './explain.ts';
import { normalise } from './journal-source.ts';
import type { CliIo } from './main.ts';

/** The flags both verbs pass to the harness, as parsed. */
interface HarnessFlags {
  config?: unknown;
  journal?: unknown;
  memory?: unknown;
  'model-endpoint'?: unknown;
}

const harnessFlags = {
  config: { type: 'string' },
  journal: { type: 'string' },
  memory: { type: 'string' },
  'model-endpoint': { type: 'string', multiple: true },
} as const;

function requireConfig(verb: string, values: HarnessFlags): string {
  if (values.config === undefined) {
    throw usageError(verb, 'missing --config FILE', `usage: forge ${verb} --config FILE`);
  }
  return String(values.config);
}

async function harnessFrom(file: string, values: HarnessFlags, io: CliIo): Promise<Harness> {
  const journal =
    values.journal === undefined ? undefined : normalise(String(values.journal), io.cwd, '--journal');
  return Harness.fromFile(resolve(io.cwd, file), {
    env: io.env,
    modelOverrides: endpointOverrides(values['model-endpoint'] as string[] | undefined),
    ...(values.memory === undefined ? {} : { memory: String(values.memory) }),
    ...(journal === undefined ? {} : { journal: journal.url }),
  });
}

/** Resolves when `signal` aborts or the process gets SIGTERM; `dispose` removes the SIGTERM handler. */
function untilStopped(signal: AbortSignal): { stopped: Promise<void>; dispose: () => void } {
  let onTerm = () => {};
  const stopped = new Promise<void>((done) => {
    onTerm = () => done();
    if (signal.aborted) done();
    signal.addEventListener('abort', () => done(), { once: true });
  });
  process.on('SIGTERM', onTerm);
  return { stopped, dispose: () => process.off('SIGTERM', onTerm) };
}

/** `forge worker`: one worker process (see the module comment of src/health/worker.ts). */
export const workerCommand: Command = {
  help: `forge worker --config FILE [options]

A worker process, as forge supervise runs them: resumes every interrupted run of the
run journal (runs whose process died), prints {"type":"ready",...}, then runs the jobs
it reads on stdin, one JSON object per line, e.g. {"council":"Support","input":"Hi"},
printing a {"type":"started",...} and a {"type":"result",...} line per run (the worker
protocol: docs/cli.md#forge-worker). At the end of stdin, SIGTERM or Ctrl-C it takes no
more jobs, lets its runs finish, and exits 0.

  --config FILE               the config file (required)
  --journal URL               the journal (default: journal: of the config, else
                              $FORGE_JOURNAL_URL, else sqlite://.forge/journal.db)
  --memory URL                default memory for councils that name none
  --model-endpoint ID=URL     send model ID to another base URL (repeatable)
`,
  async run(args, io, signal) {
    const { values } = parse('worker', args, harnessFlags, 0);
    const file = requireConfig('worker', values);
    const harness = await harnessFrom(file, values, io);
    const stop = new AbortController();
    const { stopped, dispose } = untilStopped(signal);
    void stopped.then(() => stop.abort());
    // SIGHUP (kill -HUP, or forge supervise passing it on) hot-swaps the config: validated first,
    // a bad one is refused and the old one keeps serving; runs in flight keep their models.
    const offHup = harness.reloadOnSignal(resolve(io.cwd, file), {
      onReload: (outcome) =>
        io.stderr(
          HarnessError.isInstance(outcome)
            ? `forge worker: config reload refused, the old one keeps serving: ${outcome.format()}\n`
            : `forge worker: config reloaded (councils: ${outcome.councils.join(', ')})\n`,
        ),
    });
    try {
      await runWorker(harness, { input: process.stdin, write: io.stdout, signal: stop.signal });
      return exitCodes.ok;
    } finally {
      offHup();
      dispose();
      await harness.stop();
      // Nothing more is read: stdin must not keep the process alive.
      process.stdin.destroy();
    }
  },
};

/** The file `forge` runs from (main.ts from the sources, main.js when built). */
function forgeMain(): string {
  return fileURLToPath(new URL(`./main${extname(fileURLToPath(import.meta.url))}`, import.meta.url));
}

function wholeNumber(verb: string, flag: string, value: unknown, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(String(value)) || n < min) {
    throw usageError(
      verb,
      `--${flag} "${String(value)}" is not a whole number ≥ ${min}`,
      `example: --${flag} ${Math.max(min, 2)}`,
    );
  }
  return n;
}

/** One supervisor event as a line for people. */
function describeEvent(event: SupervisorEvent): string | undefined {
  switch (event.type) {
    case 'worker-start':
      return `worker ${event.worker} started (pid ${event.pid})`;
    case 'worker-ready':
      return `worker ${event.worker} ready (pid ${event.pid})${event.resumed.length ? `, resuming ${event.resumed.length} interrupted run${event.resumed.length === 1 ? '' : 's'}` : ''}`;
    case 'worker-exit':
      return event.expected
        ? `worker ${event.worker} stopped (pid ${event.pid}, ${event.reason})`
        : `worker ${event.worker} crashed (pid ${event.pid}, ${event.reason}) after ${formatMs(event.uptimeMs)}`;
    case 'worker-restart':
      return `worker ${event.worker} restarts in ${formatMs(event.delayMs)} (restart ${event.restart})`;
    case 'worker-gave-up':
      return `worker ${event.worker} gave up after ${event.restarts} restarts`;
    default:
      return undefined;
  }
}

/** The exit code of a run result: 0 when it succeeded, else its error's family (never 70). */
function resultCode(result: WorkerRunResult): number {
  if (result.status === 'succeeded') return exitCodes.ok;
  const code = result.error ? exitCodeFor(result.error.code as HarnessErrorCode) : exitCodes.runFailed;
  return code === exitCodes.internal ? exitCodes.runFailed : code;
}

/** `forge supervise`: N workers under the supervisor, jobs from stdin, results on stdout. */
export const superviseCommand: Command = {
  help: `forge supervise --config FILE [--workers N] [options]

Runs N worker processes (forge worker) under a supervisor. A worker that crashes (any
exit it was not asked for: an error, SIGKILL, the OOM killer) is restarted with
exponential backoff, and the new one resumes the runs it left unfinished from the run
journal; a worker that keeps crashing makes the supervisor give up (worker_crash_loop).
At start, the workers also resume every interrupted run already in the journal.

Jobs are read from stdin, one JSON object per line: {"council":"Support","input":"Hi"}
(optional "id", "priority", "tenant"; {"type":"cancel","id":"…"} cancels one). Each
run's result is one {"type":"result",…} line on stdout; worker events go to stderr.
Runs until Ctrl-C or SIGTERM (workers finish their runs, SIGKILL after --grace-ms).

  --config FILE                  the config file (required)
  --workers N                    worker processes (default 2)
  --until-done                   stop once stdin has ended and every run has ended;
                                 exit 0 when all succeeded, else the first failure's code
  --json                         worker events as JSON lines on stdout, not on stderr
  --backoff-ms N                 first restart delay, doubled per crash in a row (100)
  --max-backoff-ms N             longest restart delay (10000)
  --max-restarts-per-minute N    restarts of one worker within 60 s before giving up (5)
  --grace-ms N                   how long stopping workers may finish runs (10000)
  --journal URL                  the journal all workers share (default: journal: of the
                                 config, else $FORGE_JOURNAL_URL, else sqlite://.forge/journal.db)
  --memory URL                   default memory for councils that name none
  --model-endpoint ID=URL        send model ID to another base URL (repeatable)
`,
  async run(args, io, signal) {
    const { values } = parse(
      'supervise',
      args,
      {
        ...harnessFlags,
        workers: { type: 'string' },
        'until-done': { type: 'boolean' },
        json: { type: 'boolean' },
        'backoff-ms': { type: 'string' },
        'max-backoff-ms': { type: 'string' },
        'max-restarts-per-minute': { type: 'string' },
        'grace-ms': { type: 'string' },
      },
      0,
    );
    const file = resolve(io.cwd, requireConfig('supervise', values));
    const workers = wholeNumber('supervise', 'workers', values.workers, 1) ?? 2;
    const backoffMs = wholeNumber('supervise', 'backoff-ms', values['backoff-ms'], 0);
    const maxBackoffMs = wholeNumber('supervise', 'max-backoff-ms', values['max-backoff-ms'], 0);
    const maxRestarts = wholeNumber(
      'supervise',
      'max-restarts-per-minute',
      values['max-restarts-per-minute'],
      0,
    );
    const graceMs = wholeNumber('supervise', 'grace-ms', values['grace-ms'], 0);
    const json = Boolean(values.json);

    // The config is checked here, once, so a bad file is one located error, not a crash loop.
    const probe = await harnessFrom(file, values, io);
    let journalPath: string;
    try {
      const journal = probe.journal;
      if (journal === undefined) {
        throw new HarnessError('journal_error', `${file} turns the run journal off (journal: false)`, {
          hint: 'workers resume crashed runs from the journal: remove `journal: false`, or pass --journal URL',
        });
      }
      journalPath = journal.location;
    } finally {
      await probe.stop();
    }

    const workerArgs = [
      forgeMain(),
      'worker',
      '--config',
      file,
      '--journal',
      `sqlite://${journalPath}`,
      ...(values.memory === undefined ? [] : ['--memory', String(values.memory)]),
      ...((values['model-endpoint'] as string[] | undefined) ?? []).flatMap((e) => ['--model-endpoint', e]),
    ];
    const say = (line: string) => io.stderr(`forge supervise: ${line}\n`);
    const print = (value: unknown) => io.stdout(`${JSON.stringify(value)}\n`);
    const supervisor = createSupervisor({
      script: workerArgs[0] as string,
      args: workerArgs.slice(1),
      env: io.env,
      cwd: io.cwd,
      workers,
      restart: {
        ...(backoffMs === undefined ? {} : { backoffMs }),
        ...(maxBackoffMs === undefined ? {} : { maxBackoffMs }),
        ...(maxRestarts === undefined ? {} : { maxRestartsPerMinute: maxRestarts }),
      },
      ...(graceMs === undefined ? {} : { stopGraceMs: graceMs }),
      onEvent: (event) => {
        if (event.type === 'run-result') {
          print({ type: 'result', ...event.result });
          return;
        }
        if (json) print(event.type === 'worker-gave-up' ? { ...event, error: event.error.toJSON() } : event);
        else {
          const line = describeEvent(event);
          if (line) say(line);
        }
      },
    });
    if (!json) say(`${workers} worker${workers === 1 ? '' : 's'} on ${file}, journal ${journalPath}`);

    const { stopped, dispose } = untilStopped(signal);
    const outcomes: Array<Promise<number>> = [];
    const cancels = new Map<string, AbortController>();
    const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
    let lineNo = 0;
    lines.on('line', (line) => {
      lineNo++;
      if (line.trim() === '') return;
      let command: ReturnType<typeof parseCommand>;
      try {
        command = parseCommand(line, lineNo);
        if (command.type === 'lookup') {
          throw new HarnessError('prompt_invalid', `line ${lineNo}: lookup is for the supervisor only`, {
            hint: 'forge explain <runId> shows how a run went',
          });
        }
      } catch (error) {
        const e = error as HarnessError;
        print({ type: 'rejected', line: lineNo, error: { code: e.code, message: e.message, hint: e.hint } });
        outcomes.push(Promise.resolve(exitCodes.input));
        return;
      }
      if (command.type === 'cancel') {
        if (command.id !== undefined) cancels.get(command.id)?.abort();
        return;
      }
      const { type: _type, ...job } = command;
      const controller = new AbortController();
      if (job.id !== undefined) cancels.set(job.id, controller);
      outcomes.push(
        supervisor.submit(job, { signal: controller.signal }).then(
          (result) => resultCode(result),
          (error: HarnessError) => {
            print({
              type: 'result',
              ...(job.id === undefined ? {} : { id: job.id }),
              line: lineNo,
              status: 'aborted',
              error: { code: error.code, message: error.message, hint: error.hint },
            });
            return exitCodeFor(error.code);
          },
        ),
      );
    });
    const inputEnded = new Promise<void>((done) => lines.once('close', () => done()));

    let stopHup = () => {};
    try {
      const untilDone = values['until-done']
        ? inputEnded.then(async () => {
            const codes = await Promise.all(outcomes);
            await supervisor.idle();
            return codes.find((c) => c !== exitCodes.ok) ?? exitCodes.ok;
          })
        : new Promise<number>(() => {});
      // SIGHUP: every worker reloads the config (a bad one is refused and the old one serves).
      const onHup = () => {
        for (const worker of supervisor.workers()) if (worker.pid) process.kill(worker.pid, 'SIGHUP');
        if (!json) say('SIGHUP: workers reload the config');
      };
      process.on('SIGHUP', onHup);
      stopHup = () => process.off('SIGHUP', onHup);
      const started = supervisor.start();
      const code = await Promise.race([
        untilDone,
        stopped.then(() => exitCodes.ok),
        supervisor.done.then(() => exitCodes.ok),
        started.then(() => new Promise<number>(() => {})),
      ]);
      await supervisor.stop();
      if (!json) say('stopped');
      return code;
    } finally {
      stopHup();
      dispose();
      lines.close();
      process.stdin.destroy();
      await supervisor.stop().catch(() => {});
      // A give-up is this command's error: runCli prints it and maps it to its exit code.
      await supervisor.done;
    }
  },
};
