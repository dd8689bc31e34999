/**
 * The journal probe: the run journal is a dependency of every run (a run is journaled before it
 * starts), so it is up only when a read of it answers.
 */
import { toHarnessError } from '../errors.ts';
import type { RunJournal } from '../runtime/journal.ts';
import type { Probe } from './probe.ts';

export interface JournalProbeOptions {
  /** Default `journal:<location>`. */
  name?: string;
  /** Whether a failure makes the process not ready (default true). */
  critical?: boolean;
}

/** The journal's read side the probe uses. */
export type JournalReader = Pick<RunJournal, 'location' | 'listRuns'>;

/** Up when `listRuns({ limit: 1 })` answers; its error (a `journal_error`) is the detail when it does not. */
export function createJournalProbe(journal: JournalReader, options: JournalProbeOptions = {}): Probe {
  return {
    name: options.name ?? `journal:${journal.location}`,
    kind: 'journal',
    critical: options.critical ?? true,
    async check(signal) {
      // The SQLite journal reads synchronously; an abort can only keep a read from starting.
      signal.throwIfAborted();
      try {
        journal.listRuns({ limit: 1 });
        return { status: 'up' };
      } catch (error) {
        return { status: 'down', detail: toHarnessError(error, 'journal_error').message };
      }
    },
  };
}
