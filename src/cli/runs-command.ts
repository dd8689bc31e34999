/**
 * Runs in the journal from the command line: `forge runs` lists them, `forge resume <runId>`
 * finishes an interrupted one, and `forge run --resume` ({@link resumeAllRuns}) finishes every
 * interrupted one.
 */
import { HarnessError } from '../errors.ts';
import type { Usage } from '../runtime/events.ts';
import { Harness } from '../runtime/harness.ts';
import { type JournalRun, type JournalRunStatus, processAlive, type RunJournal } from '../runtime/journal.ts';
import type { RunResult } from '../runtime/run.ts';
import { endpointOverrides, parse, usageError } from './args.ts';
import type { Command } from './commands.ts';
import { exitCodes } from './exit-codes.ts';
import { formatMs } from './explain.ts';
import { followRun, runExitCode } from './follow-run.ts';
import { type JournalSource, journalSource, openExistingJournal, unknownRunHint } from './journal-source.ts';
import type { CliIo } from './main.ts';
import { colours, oneLine } from './render.ts';

/**
 * A run's status as `forge runs` shows it: the journal's, except that a `running` run whose
 * process is gone is `interrupted` (it can be resumed).
 */
export type RunsStatus = JournalRunStatus | 'interrupted';

/** Every value `--status` takes. */
export const runsStatuses: readonly RunsStatus[] = [
  'running',
  'interrupted',
  'succeeded',
  'failed',
  'aborted',
  'limit_exceeded',
];

/** One line of `forge runs --json`. */
export interface RunsRow {
  runId: string;
  council: string;
  status: RunsStatus;
  /** 1 for the first execution, +1 per resume. */
  attempts: number;
  tenant: string;
  input: string;
  /** ISO 8601. */
  startedAt: string;
  /** ISO 8601: when it ended, or when it last started or resumed. */
  updatedAt: string;
  /** Start to end in ms, resumes and the time between included; null until it ends. */
  durationMs: number | null;
  /** Totals over all attempts; null until it ends. */
  usage: Usage | null;
  error: { code: string; message: string } | null;
  /** The process that runs (or last ran) it. */
  ownerPid: number;
}

/** True when a journal says `running` but the process that ran it is gone. */
export function isInterrupted(run: JournalRun): boolean {
  return run.status === 'running' && run.ownerPid !== process.pid && !processAlive(run.ownerPid);
}

/** A journal record as a `forge runs` row. */
export function runsRow(run: JournalRun): RunsRow {
  const ended = run.status !== 'running';
  return {
    runId: run.runId,
    council: run.council,
    status: isInterrupted(run) ? 'interrupted' : run.status,
    attempts: run.attempts,
    tenant: run.tenant,
    input: run.input,
    startedAt: new Date(run.createdAt).toISOString(),
    updatedAt: new Date(run.updatedAt).toISOString(),
    durationMs: ended ? run.updatedAt - run.createdAt : null,
    usage: ended ? (run.usage ?? null) : null,
    error: run.error ? { code: run.error.code, message: run.error.message } : null,
    ownerPid: run.ownerPid,
  };
}

/** Newest first; `running` and `interrupted` are told apart by whether the owner process lives. */
function listRows(
  journal: RunJournal,
  filter: { status?: RunsStatus; council?: string; limit: number },
): RunsRow[] {
  const { status, council, limit } = filter;
  const byCouncil = council === undefined ? {} : { council };
  if (status === 'running' || status === 'interrupted') {
    return journal
      .listRuns({ status: 'running', ...byCouncil, limit: 100_000 })
      .map(runsRow)
      .filter((row) => row.status === status)
      .slice(0, limit);
  }
  return journal.listRuns({ ...(status === undefined ? {} : { status }), ...byCouncil, limit }).map(runsRow);
}

/** `forge runs`: the journal's runs as a table (or `--json`), newest first. */
export const runsCommand: Command = {
  help: `forge runs [--config FILE] [--journal URL] [--status S] [--council NAME] [--limit N] [--json]

Lists the runs in the run journal, newest first: run id, council, status, attempts,
start time, duration, tokens and cost. A run whose process died shows as interrupted
(forge resume <runId> finishes it).

  --journal URL     the journal (sqlite://path or a path; default: journal: of --config,
                    else $FORGE_JOURNAL_URL, else sqlite://.forge/journal.db)
  --config FILE     read only to find the journal named by its journal: key
  --status S        only runs with this status: ${runsStatuses.join(', ')}
  --council NAME    only runs of this council
  --limit N         at most N runs (default 100)
  --json            one JSON array of runs
`,
  async run(args, io) {
    const { values } = parse(
      'runs',
      args,
      {
        config: { type: 'string' },
        journal: { type: 'string' },
        status: { type: 'string' },
        council: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
      },
      0,
    );
    const status = values.status as string | undefined;
    if (status !== undefined && !runsStatuses.includes(status as RunsStatus)) {
      throw usageError(
        'runs',
        `--status "${status}" is not a run status`,
        `--status takes one of: ${runsStatuses.join(', ')}`,
      );
    }
    const limit = values.limit === undefined ? 100 : Number(values.limit);
    if (!/^\d+$/.test(String(values.limit ?? '100')) || limit < 1) {
      throw usageError(
        'runs',
        `--limit "${String(values.limit)}" is not a positive whole number`,
        'example: --limit 20',
      );
    }
    const source = await journalSource(
      values.journal as string | undefined,
      values.config as string | undefined,
      io,
    );
    const journal = openExistingJournal(source);
    let rows: RunsRow[] = [];
    try {
      if (journal) {
        rows = listRows(journal, {
          ...(status === undefined ? {} : { status: status as RunsStatus }),
          ...(values.council === undefined ? {} : { council: String(values.council) }),
          limit,
        });
      }
    } finally {
      journal?.close();
    }
    if (values.json) {
      io.stdout(`${JSON.stringify(rows)}\n`);
      return exitCodes.ok;
    }
    if (rows.length === 0) {
      const why = journal ? '' : ' (the file does not exist yet)';
      io.stdout(`no runs${status === undefined ? '' : ` with status ${status}`} in ${source.path}${why}\n`);
      return exitCodes.ok;
    }
    io.stdout(runsTable(rows, io.isTty));
    return exitCodes.ok;
  },
};

/** The `forge runs` table; colours only on a TTY. */
export function runsTable(rows: readonly RunsRow[], tty: boolean): string {
  const k = colours(tty);
  const table = [
    ['RUN ID', 'COUNCIL', 'STATUS', 'ATTEMPTS', 'STARTED', 'DURATION', 'TOKENS', 'COST'],
    ...rows.map((r) => [
      r.runId,
      r.council,
      r.status,
      String(r.attempts),
      localTime(r.startedAt),
      r.durationMs === null ? '-' : formatMs(r.durationMs),
      r.usage === null ? '-' : String(r.usage.inputTokens + r.usage.outputTokens),
      r.usage === null || r.usage.costUsd === 0 ? '-' : `$${r.usage.costUsd.toFixed(6)}`,
    ]),
  ];
  const widths = (table[0] as string[]).map((_, i) =>
    Math.max(...table.map((row) => (row[i] as string).length)),
  );
  const paint = (status: string, text: string) =>
    status === 'succeeded'
      ? k.green(text)
      : status === 'failed' || status === 'aborted'
        ? k.red(text)
        : status === 'interrupted' || status === 'limit_exceeded'
          ? k.yellow(text)
          : k.cyan(text);
  return table
    .map((row, r) => {
      const cells = row.map((cell, i) => {
        const padded = cell.padEnd(widths[i] as number);
        // Padding first, then colour: escape codes must not count towards the width.
        if (r === 0) return k.bold(padded);
        return i === 2 ? paint(cell, padded) : padded;
      });
      return `${cells.join('  ').trimEnd()}\n`;
    })
    .join('');
}

/** `2025-03-04 13:05:09` in local time: what a person compares with their clock. */
function localTime(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** `forge resume <runId>`: finishes one interrupted run, shown like `forge run`. */
export const resumeCommand: Command = {
  help: `forge resume <runId> --config FILE [options]

Resumes an interrupted run (its process died) from the run journal with the harness
built from the config: finished steps are replayed from the journal without calling
models or re-running skills, the step that was in flight runs again. The council must
be defined in the config as it was when the run started. Shows the run like forge run;
the exit code is the run's.

  --config FILE               the config file that defines the run's council (required)
  --journal URL               the journal (default: journal: of the config, else
                              $FORGE_JOURNAL_URL, else sqlite://.forge/journal.db)
  --json                      JSON lines: one per event, then one {"type":"result"} line
  --memory URL                default memory for councils that name none (as for forge run)
  --model-endpoint ID=URL     send model ID to another base URL (repeatable)
`,
  async run(args, io, signal) {
    const { values, positionals } = parse(
      'resume',
      args,
      {
        config: { type: 'string' },
        journal: { type: 'string' },
        json: { type: 'boolean' },
        memory: { type: 'string' },
        'model-endpoint': { type: 'string', multiple: true },
      },
      1,
    );
    const runId = positionals[0];
    if (runId === undefined) {
      throw usageError(
        'resume',
        'missing <runId>',
        'usage: forge resume <runId> --config FILE; list runs with forge runs',
      );
    }
    const configFile = values.config as string | undefined;
    if (configFile === undefined) {
      throw usageError(
        'resume',
        'missing --config FILE',
        'the run resumes on the council of that file: pass the config it ran with',
      );
    }
    const source = await journalSource(values.journal as string | undefined, configFile, io);
    const record = checkResumable(source, runId);
    const harness = await harnessFor(configFile, source, values, io);
    try {
      // Checked before resuming so a missing council is a located config error, not a failed run.
      harness.council(record.council);
      return await followRun(
        (onEvent) => harness.resume(runId, { signal, onEvent }),
        Boolean(values.json),
        io,
      );
    } finally {
      await harness.stop();
    }
  },
};

/** The run's record when it can be resumed; `unknown_run` or `resume_invalid` saying why not. */
function checkResumable(source: JournalSource, runId: string): JournalRun {
  const journal = openExistingJournal(source);
  let record: JournalRun | undefined;
  try {
    record = journal?.getRun(runId);
  } finally {
    journal?.close();
  }
  if (record === undefined) {
    throw new HarnessError('unknown_run', `no run ${runId} in the journal at ${source.path}`, {
      hint: unknownRunHint(source, journal !== undefined),
    });
  }
  if (record.status !== 'running') {
    throw new HarnessError('resume_invalid', `run ${runId} already ended (${record.status})`, {
      hint: `only interrupted runs can be resumed; forge explain ${runId} shows what happened, or start a new run`,
      details: { status: record.status },
    });
  }
  if (!isInterrupted(record)) {
    throw new HarnessError('resume_invalid', `run ${runId} is still running in process ${record.ownerPid}`, {
      hint: 'wait for it to end, or stop that process first',
      details: { ownerPid: record.ownerPid },
    });
  }
  return record;
}

async function harnessFor(
  configFile: string,
  source: JournalSource,
  values: { memory?: unknown; 'model-endpoint'?: unknown },
  io: CliIo,
): Promise<Harness> {
  return Harness.fromFile(configFile, {
    env: io.env,
    journal: source.url,
    modelOverrides: endpointOverrides(values['model-endpoint'] as string[] | undefined),
    ...(values.memory === undefined ? {} : { memory: String(values.memory) }),
  });
}

/**
 * `forge run --resume`: resumes every interrupted run of the journal (oldest first, all at
 * once) with the harness of `configFile`, prints a line per run as it ends and a summary.
 * 0 when every one succeeded (or there was none), else the exit code of the first that did not.
 */
export async function resumeAllRuns(
  configFile: string,
  values: { journal?: unknown; json?: unknown; memory?: unknown; 'model-endpoint'?: unknown },
  io: CliIo,
  signal: AbortSignal,
): Promise<number> {
  const json = Boolean(values.json);
  const source = await journalSource(values.journal as string | undefined, configFile, io);
  const existing = openExistingJournal(source);
  existing?.close();
  if (existing === undefined) {
    return nothingToResume(source, json, io, `${source.path} does not exist yet`);
  }
  const harness = await harnessFor(configFile, source, values, io);
  try {
    const runs = harness.resumeAll({ signal });
    if (runs.length === 0) return nothingToResume(source, json, io, `no interrupted runs in ${source.path}`);
    const k = colours(io.isTty && !json);
    if (!json)
      io.stdout(
        `resuming ${runs.length} interrupted run${runs.length === 1 ? '' : 's'} from ${source.path}\n`,
      );
    const councils = new Map(runs.map((r) => [r.runId, harness.journal?.getRun(r.runId)?.council ?? '?']));
    const results: RunResult[] = [];
    await Promise.all(
      runs.map(async (run) => {
        const result = await run.result;
        results.push(result);
        const replayed = run.events.filter((e) => e.type === 'step-replayed').length;
        const resume = run.events.find((e) => e.type === 'run-resume');
        if (json) {
          io.stdout(`${JSON.stringify({ type: 'result', ...result, error: result.error?.toJSON() })}\n`);
          return;
        }
        const council = result.council || (councils.get(result.runId) ?? '?');
        const facts = [
          ...(resume?.type === 'run-resume' ? [`attempt ${resume.attempt}`] : []),
          `${replayed} step${replayed === 1 ? '' : 's'} replayed`,
          formatMs(result.durationMs),
        ].join(' · ');
        if (result.status === 'succeeded') {
          io.stdout(`${k.green('✓')} ${result.runId} ${council} succeeded ${k.dim(facts)}\n`);
        } else {
          const why = result.error ? `: ${result.error.code}: ${oneLine(result.error.message, 200)}` : '';
          io.stdout(`${k.red('✗')} ${result.runId} ${council} ${result.status}${why} ${k.dim(facts)}\n`);
        }
      }),
    );
    const succeeded = results.filter((r) => r.status === 'succeeded').length;
    const failed = results.length - succeeded;
    if (json) {
      io.stdout(
        `${JSON.stringify({ type: 'summary', journal: source.path, resumed: results.length, succeeded, failed })}\n`,
      );
    } else {
      io.stdout(
        `resumed ${results.length} run${results.length === 1 ? '' : 's'}: ${succeeded} succeeded, ${failed} did not\n`,
      );
    }
    // In the order they were resumed (oldest first), so the exit code does not depend on timing.
    const firstBad = runs
      .map((r) => results.find((x) => x.runId === r.runId))
      .find((r) => r?.status !== 'succeeded');
    return firstBad === undefined ? exitCodes.ok : runExitCode(firstBad);
  } finally {
    await harness.stop();
  }
}

function nothingToResume(source: JournalSource, json: boolean, io: CliIo, why: string): number {
  if (json)
    io.stdout(
      `${JSON.stringify({ type: 'summary', journal: source.path, resumed: 0, succeeded: 0, failed: 0 })}\n`,
    );
  else io.stdout(`nothing to resume: ${why}\n`);
  return exitCodes.ok;
}
