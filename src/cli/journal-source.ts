/**
 * Which run journal a `forge` verb reads, and opening it without side effects: `forge runs`,
 * `forge explain` and `forge resume` must never create a journal where none was, nor add the
 * journal's tables to some other SQLite file someone pointed `--journal` at by mistake.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { loadConfigFile } from '../config/load.ts';
import { HarnessError } from '../errors.ts';
import { defaultJournalUrl } from '../runtime/harness.ts';
import { openJournal, type RunJournal } from '../runtime/journal.ts';
import type { CliIo } from './main.ts';

/** Where a verb's journal is and who said so (for messages). */
export interface JournalSource {
  /** `sqlite://` + absolute path (or `sqlite://:memory:`). */
  url: string;
  /** The file (or `:memory:`). */
  path: string;
  /** `--journal`, `journal: in FILE`, `$FORGE_JOURNAL_URL` or `default`. */
  from: string;
}

/** The tables every forge journal has; a file without them is someone else's database. */
const journalTables = ['runs', 'steps', 'events'];

/**
 * The journal a verb uses: `--journal` first, then the config's `journal:` (when `--config` is
 * given), then `$FORGE_JOURNAL_URL`, then `sqlite://.forge/journal.db` — the same order the
 * harness itself follows. Relative paths are taken from `io.cwd` (the config's own `journal:`
 * is already absolute, against the config's folder). A config with `journal: false` and no
 * `--journal` is a `journal_error`: there is nothing to read.
 */
export async function journalSource(
  flag: string | undefined,
  configFile: string | undefined,
  io: CliIo,
): Promise<JournalSource> {
  if (flag !== undefined) return normalise(flag, io.cwd, '--journal');
  if (configFile !== undefined) {
    const config = await loadConfigFile(configFile, { env: io.env });
    if (config.journal === false) {
      throw new HarnessError('journal_error', `${configFile} turns the run journal off (journal: false)`, {
        hint: 'pass --journal URL to read another journal, or remove `journal: false` from the config',
      });
    }
    if (config.journal !== undefined) return normalise(config.journal, io.cwd, `journal: in ${configFile}`);
  }
  const env = io.env.FORGE_JOURNAL_URL;
  if (env !== undefined && env !== '') return normalise(env, io.cwd, '$FORGE_JOURNAL_URL');
  return normalise(defaultJournalUrl, io.cwd, 'default');
}

/** A journal URL or path as a {@link JournalSource}, relative paths taken from `cwd`. */
export function normalise(url: string, cwd: string, from: string): JournalSource {
  const raw = url.startsWith('sqlite://') ? url.slice('sqlite://'.length) : url;
  if (raw === '') {
    throw new HarnessError('cli_usage', `journal "${url}" (${from}) names no file`, {
      hint: 'use sqlite://path/to/journal.db or a plain file path',
    });
  }
  const path = raw === ':memory:' ? raw : resolve(cwd, raw);
  return { url: `sqlite://${path}`, path, from };
}

/**
 * Opens an existing journal for a verb. `undefined` when the file does not exist (the caller
 * says what that means for it); a `journal_error` naming the file when it is not a SQLite
 * database or has no journal tables, checked read-only before the journal opens it for writing.
 */
export function openExistingJournal(source: JournalSource): RunJournal | undefined {
  if (source.path !== ':memory:') {
    if (!existsSync(source.path)) return undefined;
    let tables: string[];
    try {
      const db = new DatabaseSync(source.path, { readOnly: true });
      try {
        tables = (
          db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>
        ).map((row) => row.name);
      } finally {
        db.close();
      }
    } catch (error) {
      throw notAJournal(source, `cannot be read as an SQLite database (${reason(error)})`, error);
    }
    const missing = journalTables.filter((t) => !tables.includes(t));
    if (missing.length > 0) {
      throw notAJournal(source, `is an SQLite database without the journal's ${missing.join(', ')} table(s)`);
    }
  }
  return openJournal(source.url);
}

/** The hint for "no such run": which journal was read and how to list what it has. */
export function unknownRunHint(source: JournalSource, exists: boolean): string {
  const where = `looked in ${source.path} (from ${source.from})`;
  return exists
    ? `${where}; list its runs with \`forge runs --journal ${source.url}\``
    : `${where}, which does not exist yet; point --journal (or $FORGE_JOURNAL_URL) at the journal your runs wrote`;
}

function notAJournal(source: JournalSource, what: string, cause?: unknown): HarnessError {
  return new HarnessError(
    'journal_error',
    `${source.path} (${source.from}) is not a forge run journal: it ${what}`,
    {
      ...(cause === undefined ? {} : { cause }),
      hint: 'point --journal (or journal: in the config, or $FORGE_JOURNAL_URL) at the file forge run wrote; the default is .forge/journal.db',
      details: { path: source.path },
    },
  );
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
