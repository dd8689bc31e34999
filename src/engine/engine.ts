/**
 * The `Engine` contract (ARCHITECTURE.md §4): where and when a run executes. The local engine
 * runs it in this process once the scheduler admits it; a distributed engine (BullMQ on Redis)
 * implements the same contract with workers in other processes. Execution is at-least-once: a
 * run whose worker died is handed out again and resumes from the run journal, so its finished
 * steps are not repeated.
 */
import type { RunResult } from '../runtime/run.ts';
import type { Priority } from '../runtime/scheduler/types.ts';

/** What an engine needs to know about a run to place it. */
export interface RunJob {
  runId: string;
  council: string;
  tenant: string;
  priority: Priority;
}

/** Executes the run; given the signal of the run's slot. */
export type RunWork = (signal: AbortSignal) => Promise<RunResult>;

export interface Engine {
  /** `local`, `bullmq`, ... */
  readonly name: string;
  /**
   * Executes `work` for `job` once the engine admits it (queue, priorities, quotas), and
   * resolves with its result. Rejects only when the job is refused (`overloaded`,
   * `quota_exceeded`) or aborted before it started.
   */
  execute(job: RunJob, work: RunWork, signal: AbortSignal): Promise<RunResult>;
  /** Run ids left unfinished by a worker that died, oldest first: to be resumed. */
  interrupted(): string[];
  close(): Promise<void>;
}
