/** Showing one run the way `forge run` does, shared by `run`, `demo` and `resume`. */
import type { RunEvent } from '../runtime/events.ts';
import type { RunResult } from '../runtime/run.ts';
import { exitCodeFor, exitCodes } from './exit-codes.ts';
import type { CliIo } from './main.ts';
import { createRenderer } from './render.ts';

/**
 * Shows a run (live view, plain lines or JSON lines) and returns its exit code. `start` gets
 * the event listener to pass to `harness.run`/`harness.resume`: a run emits its first events
 * before it returns, so subscribing afterwards would miss them.
 */
export async function followRun(
  start: (onEvent: (event: RunEvent) => void) => PromiseLike<RunResult>,
  json: boolean,
  io: CliIo,
): Promise<number> {
  const renderer = createRenderer({ json, tty: io.isTty && !json, write: io.stdout });
  const result = await start((e) => renderer.event(e));
  renderer.result(result);
  // The error goes to stderr in every mode, so scripts and people see it the same way.
  if (result.error) io.stderr(`forge: ${result.error.code}: ${result.error.format()}\n`);
  return runExitCode(result);
}

/** The exit code of a finished run: 0 when it succeeded, else its error's family (never 70). */
export function runExitCode(result: RunResult): number {
  if (result.status === 'succeeded') return exitCodes.ok;
  const code = result.error ? exitCodeFor(result.error.code) : exitCodes.runFailed;
  return code === exitCodes.internal ? exitCodes.runFailed : code;
}
