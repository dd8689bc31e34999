/**
 * The local engine: runs execute in this process, admitted by the harness scheduler (priority
 * queues with aging, concurrency caps, the tenant quota hook). Runs left unfinished by a process
 * that died are found in the run journal.
 */
import { processAlive, type RunJournal } from '../runtime/journal.ts';
import type { RunResult } from '../runtime/run.ts';
import type { Scheduler } from '../runtime/scheduler/types.ts';
import type { Engine, RunJob, RunWork } from './engine.ts';

export interface LocalEngineOptions {
  scheduler: Scheduler;
  /** Where interrupted runs are found; without one, `interrupted()` is empty. */
  journal?: () => RunJournal | undefined;
}

export class LocalEngine implements Engine {
  readonly name = 'local';
  readonly #scheduler: Scheduler;
  readonly #journal: () => RunJournal | undefined;

  constructor(options: LocalEngineOptions) {
    this.#scheduler = options.scheduler;
    this.#journal = options.journal ?? (() => undefined);
  }

  async execute(job: RunJob, work: RunWork, signal: AbortSignal): Promise<RunResult> {
    const release = await this.#scheduler.admit(job, signal);
    try {
      return await work(signal);
    } finally {
      release();
    }
  }

  interrupted(): string[] {
    const journal = this.#journal();
    if (!journal) return [];
    return journal
      .listRuns({ status: 'running', limit: 10_000 })
      .filter((run) => run.ownerPid !== process.pid && !processAlive(run.ownerPid))
      .reverse()
      .map((run) => run.runId);
  }

  async close(): Promise<void> {}
}
