/**
 * `forge memory <inspect|export|import>`: look into one memory namespace, and move it between
 * backends as JSON lines (one header line, then one {@link MemoryRecord} per line). A thin wrapper
 * over `MemoryStore.stats`, `read`, `dump` and `load`, so every registered backend works the same.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { HarnessError, throwIfAborted } from '../errors.ts';
import { openMemoryStore } from '../memory/registry.ts';
import type { MemoryMessage, MemoryNamespace, MemoryRecord, MemoryStore } from '../memory/store.ts';
import { DEFAULT_TENANT, isPlainObject, memoryError, prepareLoad } from '../memory/validation.ts';
import { type OptionSpec, parse, usageError } from './args.ts';
import type { Command } from './commands.ts';
import { exitCodes } from './exit-codes.ts';
import type { CliIo } from './main.ts';

/** The `version` of the export header this CLI writes and the only one `import` reads. */
export const MEMORY_EXPORT_VERSION = 1;

/** The first line of an export. Lines after it are {@link MemoryRecord}s. */
export interface MemoryExportHeader {
  kind: 'header';
  version: typeof MEMORY_EXPORT_VERSION;
  /** The namespace exported, with the default tenant filled in; `agent` absent for council-wide memory. */
  namespace: { tenant: string; council: string; agent?: string };
  /** When the export started, epoch milliseconds. */
  exportedAt: number;
  /** The store's URL, password redacted. */
  source: string;
}

/** How many of the latest messages `inspect` shows when `--last` is not given. */
export const DEFAULT_INSPECT_LAST = 5;

// Records are written in batches of about this many characters: one write per record would cost a
// syscall each, one write of everything would hold the whole namespace in memory.
const WRITE_BATCH_CHARS = 64 * 1024;

const HELP = `forge memory <inspect|export|import> --url URL --council NAME [--tenant T] [--agent A]

Looks into one memory namespace, or moves it between backends as JSON lines: a header line
{"kind":"header","version":1,"namespace":{...},"exportedAt":...,"source":URL}, then one record per
line ({"kind":"message"|"kv"|"document",...}, as MemoryStore.dump gives them).

Every subcommand:
  --url URL        the store (memory://, sqlite://path, redis://, postgres://, pglite://path,
                   lmdb://path); default $FORGE_MEMORY_URL. A password in it is never printed.
  --council NAME   the council of the namespace (required)
  --tenant T       the tenant (default "default")
  --agent A        the agent; leave out for the council-wide namespace (not a wildcard)

forge memory inspect [--json] [--last N]
  Counts of messages, live keys, documents and the embedding dimension, then the last N
  messages (default 5). --json prints one JSON object {url, namespace, stats, messages}.

forge memory export [--out FILE]
  Writes the namespace as JSON lines to stdout, or to FILE (written beside it and renamed into
  place when complete, so FILE is never half-written). Streams: memory stays flat on any size.

forge memory import [--in FILE] [--mode append|replace]
  Reads JSON lines from FILE, or from stdin without --in, into the namespace given by the flags
  (not the one in the header, so a namespace can be copied under another name). Every line is
  checked before anything is written: a bad line is an error naming its line number, and the
  namespace is left as it was. --mode append (default) adds messages after the existing ones
  (new seq and time) and upserts keys and documents; --mode replace empties the namespace first
  and keeps each message's seq and time. Prints how many records it wrote.

Exit codes: 0 ok · 1 memory error (bad record, store down) · 2 usage · 3 unknown URL scheme · 130 interrupted
`;

const COMMON: OptionSpec = {
  url: { type: 'string' },
  council: { type: 'string' },
  tenant: { type: 'string' },
  agent: { type: 'string' },
};

/** The flags of `forge memory <sub>`: the common ones plus `options`, no positional arguments. */
function parseFlags(verb: string, args: string[], options: OptionSpec): Record<string, string | boolean> {
  return parse(verb, args, { ...COMMON, ...options }, 0).values as Record<string, string | boolean>;
}

interface Target {
  url: string;
  ns: MemoryNamespace;
  /** The namespace as the header and `--json` show it: default tenant filled in, no absent agent. */
  shown: MemoryExportHeader['namespace'];
}

function target(verb: string, values: Record<string, string | boolean>, io: CliIo): Target {
  const url = typeof values.url === 'string' ? values.url : io.env.FORGE_MEMORY_URL;
  if (url === undefined || url === '') {
    throw usageError(verb, 'missing --url', 'pass --url sqlite://./data/app.db (or set $FORGE_MEMORY_URL)');
  }
  const flag = (name: 'council' | 'tenant' | 'agent'): string | undefined => {
    const value = values[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') {
      throw usageError(verb, `--${name} must not be empty`, `leave --${name} out or give it a name`);
    }
    return value;
  };
  const council = flag('council');
  if (council === undefined) {
    throw usageError(verb, 'missing --council', 'name the council whose memory you mean: --council Support');
  }
  const tenant = flag('tenant');
  const agent = flag('agent');
  return {
    url,
    ns: { council, ...(tenant === undefined ? {} : { tenant }), ...(agent === undefined ? {} : { agent }) },
    shown: { tenant: tenant ?? DEFAULT_TENANT, council, ...(agent === undefined ? {} : { agent }) },
  };
}

function describeNamespace(shown: MemoryExportHeader['namespace']): string {
  return `tenant=${shown.tenant} council=${shown.council}${shown.agent === undefined ? ' (council-wide)' : ` agent=${shown.agent}`}`;
}

async function withStore<T>(url: string, use: (store: MemoryStore) => Promise<T>): Promise<T> {
  const store = await openMemoryStore(url);
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

async function inspect(args: string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const values = parseFlags('memory inspect', args, { json: { type: 'boolean' }, last: { type: 'string' } });
  const { url, ns, shown } = target('memory inspect', values, io);
  const last = values.last === undefined ? DEFAULT_INSPECT_LAST : Number(values.last);
  if (!Number.isInteger(last) || last < 0) {
    throw usageError('memory inspect', `--last "${String(values.last)}" is not a whole number ≥ 0`);
  }
  return withStore(url, async (store) => {
    const stats = await store.stats(ns, { signal });
    const messages = await store.read(ns, { limit: last, signal });
    if (values.json === true) {
      io.stdout(`${JSON.stringify({ url: store.url, namespace: shown, stats, messages })}\n`);
      return exitCodes.ok;
    }
    const dimension = stats.dimension === undefined ? '' : ` (${stats.dimension}-dimensional embeddings)`;
    io.stdout(
      `memory ${store.url}\nnamespace ${describeNamespace(shown)}\n` +
        `  messages   ${stats.messages}\n  keys       ${stats.keys}\n  documents  ${stats.documents}${dimension}\n`,
    );
    if (messages.length > 0) {
      io.stdout(`last ${messages.length} message${messages.length === 1 ? '' : 's'}:\n`);
      for (const message of messages) io.stdout(`${formatMessage(message)}\n`);
    }
    return exitCodes.ok;
  });
}

const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;

/** One line per message, content shortened and its line breaks shown as ⏎, so the table stays a table. */
function formatMessage(message: MemoryMessage): string {
  const content = message.content.replace(/\r?\n/g, ' ⏎ ');
  const shortened = content.length > 100 ? `${content.slice(0, 99)}…` : content;
  return `  #${String(message.seq).padEnd(6)} ${message.role.padEnd(9)} ${new Date(message.at).toISOString()}  ${shortened}`;
}

/** Where export lines go: a temporary file renamed into place, or the CLI's stdout. */
interface LineSink {
  write(text: string): Promise<void>;
  /** Makes the output final (renames the file into place). */
  commit(): Promise<void>;
  /** Drops a partial output (removes the temporary file). */
  discard(): Promise<void>;
}

async function fileSink(path: string, signal: AbortSignal): Promise<LineSink> {
  const finalPath = resolve(path);
  await mkdir(dirname(finalPath), { recursive: true });
  const partPath = `${finalPath}.${process.pid}.part`;
  const stream: WriteStream = createWriteStream(partPath);
  await once(stream, 'open', { signal });
  const closed = (): Promise<void> =>
    new Promise((done, fail) => stream.end((error?: Error | null) => (error ? fail(error) : done())));
  return {
    async write(text) {
      // Waiting for 'drain' is what keeps memory flat when the disk is slower than the store.
      if (!stream.write(text)) await once(stream, 'drain', { signal });
    },
    async commit() {
      await closed();
      await rename(partPath, finalPath);
    },
    async discard() {
      stream.destroy();
      await rm(partPath, { force: true });
    },
  };
}

function stdoutSink(io: CliIo, signal: AbortSignal): LineSink {
  return {
    async write(text) {
      // In the real CLI io.stdout is process.stdout.write, whose `false` asks the writer to wait for
      // 'drain' (a pipe to a slow reader); other io implementations return nothing and never wait.
      const accepted = (io.stdout as (chunk: string) => unknown)(text);
      if (accepted === false && process.stdout.writableNeedDrain) {
        await once(process.stdout, 'drain', { signal });
      }
    },
    async commit() {},
    async discard() {},
  };
}

async function exportNamespace(args: string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const values = parseFlags('memory export', args, { out: { type: 'string' } });
  const { url, ns, shown } = target('memory export', values, io);
  const out = values.out;
  if (out === '' || out === true) throw usageError('memory export', '--out must name a file');
  return withStore(url, async (store) => {
    const sink = typeof out === 'string' ? await fileSink(out, signal) : stdoutSink(io, signal);
    const counts = { message: 0, kv: 0, document: 0 };
    try {
      const header: MemoryExportHeader = {
        kind: 'header',
        version: MEMORY_EXPORT_VERSION,
        namespace: shown,
        exportedAt: Date.now(),
        source: store.url,
      };
      let batch = `${JSON.stringify(header)}\n`;
      for await (const record of store.dump(ns, { signal })) {
        counts[record.kind]++;
        batch += `${JSON.stringify(record)}\n`;
        if (batch.length >= WRITE_BATCH_CHARS) {
          await sink.write(batch);
          batch = '';
        }
      }
      throwIfAborted(signal);
      await sink.write(batch);
      await sink.commit();
    } catch (error) {
      await sink.discard();
      throw error;
    }
    const total = counts.message + counts.kv + counts.document;
    // The summary goes to stderr: stdout may be the export itself.
    io.stderr(
      `exported ${plural(total, 'record')} (${plural(counts.message, 'message')}, ${plural(counts.kv, 'key')}, ${plural(counts.document, 'document')}) ` +
        `of ${describeNamespace(shown)} from ${store.url}${typeof out === 'string' ? ` to ${out}` : ''}\n`,
    );
    return exitCodes.ok;
  });
}

/** A bad import line: a `memory_error` naming the source and line, saying nothing was written. */
function lineError(source: string, line: number, problem: string, cause?: unknown): HarnessError {
  return memoryError(`forge memory import: ${source} line ${line}: ${problem}`, {
    ...(cause === undefined ? {} : { cause }),
    hint: `fix or remove line ${line}; nothing was written`,
    details: { line },
  });
}

interface ParsedImport {
  records: MemoryRecord[];
  /** The 1-based line number of each record, by index. */
  lines: number[];
  header: MemoryExportHeader | undefined;
}

/**
 * Reads every line and checks it is JSON and a record object (kind, fields); a line that is not is an
 * error naming it. Blank lines are skipped; a header is taken only as the first non-blank line.
 */
async function readImport(input: Readable, source: string, signal: AbortSignal): Promise<ParsedImport> {
  const records: MemoryRecord[] = [];
  const lines: number[] = [];
  let header: MemoryExportHeader | undefined;
  let lineNumber = 0;
  let seenContent = false;
  const reader = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY, signal });
  try {
    for await (const text of reader) {
      lineNumber++;
      if (text.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw lineError(source, lineNumber, `is not valid JSON (${reason})`, error);
      }
      if (!isPlainObject(value)) {
        throw lineError(source, lineNumber, 'is not a JSON object; each line holds one record {"kind":...}');
      }
      if (value.kind === 'header') {
        if (seenContent) {
          throw lineError(source, lineNumber, 'is a header, which may only be the first line');
        }
        if (value.version !== MEMORY_EXPORT_VERSION) {
          throw lineError(
            source,
            lineNumber,
            `is a header of version ${JSON.stringify(value.version)}; this forge reads version ${MEMORY_EXPORT_VERSION}`,
          );
        }
        header = value as unknown as MemoryExportHeader;
      } else {
        records.push(value as unknown as MemoryRecord);
        lines.push(lineNumber);
      }
      seenContent = true;
    }
  } catch (error) {
    if (HarnessError.isInstance(error)) throw error;
    throwIfAborted(signal);
    const reason = error instanceof Error ? error.message : String(error);
    throw memoryError(`forge memory import: ${source} cannot be read after line ${lineNumber}: ${reason}`, {
      cause: error,
      hint: 'check the file; nothing was written',
    });
  } finally {
    reader.close();
  }
  return { records, lines, header };
}

/** Turns `load record <index>: …` (from `prepareLoad` or `load`) into an error naming the line. */
function atLine(error: unknown, source: string, lines: number[]): unknown {
  if (!HarnessError.isInstance(error) || typeof error.details.index !== 'number') return error;
  const line = lines[error.details.index];
  if (line === undefined) return error;
  return lineError(source, line, error.message.replace(/^load record \d+: /, ''), error);
}

async function importNamespace(args: string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const values = parseFlags('memory import', args, { in: { type: 'string' }, mode: { type: 'string' } });
  const { url, ns, shown } = target('memory import', values, io);
  const mode = values.mode ?? 'append';
  if (mode !== 'append' && mode !== 'replace') {
    throw usageError(
      'memory import',
      `--mode "${String(mode)}" is not append or replace`,
      'use --mode append (default) or --mode replace',
    );
  }
  const file = values.in;
  if (file === '' || file === true) throw usageError('memory import', '--in must name a file');
  let input: Readable;
  let source: string;
  if (typeof file === 'string' && file !== '-') {
    const stream = createReadStream(resolve(io.cwd, file));
    try {
      await once(stream, 'open', { signal });
    } catch (error) {
      stream.destroy();
      throwIfAborted(signal);
      const reason = (error as NodeJS.ErrnoException).code ?? String(error);
      throw usageError(
        'memory import',
        `--in ${file}: the file cannot be read (${reason})`,
        'check the path after --in',
      );
    }
    input = stream;
    source = file;
  } else {
    if (process.stdin.isTTY) {
      throw usageError(
        'memory import',
        'no --in FILE and stdin is a terminal',
        'pass --in FILE, or pipe the export in: forge memory import ... < export.jsonl',
      );
    }
    input = process.stdin;
    source = 'stdin';
  }
  const { records, lines, header } = await readImport(input, source, signal);
  // An export always has its header, so input without one and without records is a mistake (an
  // empty pipe), and in replace mode it would silently empty the namespace.
  if (header === undefined && records.length === 0) {
    throw memoryError(`forge memory import: ${source} is empty; nothing was written`, {
      hint: 'pass a file written by forge memory export (its first line is the header)',
    });
  }
  return withStore(url, async (store) => {
    // The same checks `load` makes, done first so an error can name the line; in append mode the
    // namespace's dimension counts too. `load` checks again (the namespace may change meanwhile).
    const dimension = mode === 'append' ? (await store.stats(ns, { signal })).dimension : undefined;
    try {
      await prepareLoad(records, { mode, dimension, signal });
    } catch (error) {
      throw atLine(error, source, lines);
    }
    let written: number;
    try {
      written = await store.load(ns, records, { mode, signal });
    } catch (error) {
      throw atLine(error, source, lines);
    }
    io.stdout(
      `imported ${plural(written, 'record')} into ${describeNamespace(shown)} of ${store.url} (mode ${mode})\n`,
    );
    return exitCodes.ok;
  });
}

const subcommands: Record<string, (args: string[], io: CliIo, signal: AbortSignal) => Promise<number>> = {
  inspect,
  export: exportNamespace,
  import: importNamespace,
};

/** The `forge memory` verb; registered in `commands.ts`. */
export const memoryCommand: Command = {
  help: HELP,
  async run(args, io, signal) {
    const [sub, ...rest] = args;
    const run = sub === undefined ? undefined : subcommands[sub];
    if (run === undefined) {
      throw usageError(
        'memory',
        sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`,
        'use forge memory inspect | export | import (forge memory --help)',
      );
    }
    return run(rest, io, signal);
  },
};
