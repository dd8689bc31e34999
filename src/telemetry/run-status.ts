/** How a run's last event maps to its status: the same rule as `RunResult.status`. */
import type { RunEvent } from '../runtime/events.ts';
import type { RunStatus } from '../runtime/run.ts';

/** The status a run ended with, from its `run-finish` / `run-error` event; undefined for other events. */
export function endedStatus(event: RunEvent): RunStatus | undefined {
  if (event.type === 'run-finish') return 'succeeded';
  if (event.type !== 'run-error') return undefined;
  const code = event.error.code;
  return code === 'aborted' ? 'aborted' : code === 'limit_exceeded' ? 'limit_exceeded' : 'failed';
}
