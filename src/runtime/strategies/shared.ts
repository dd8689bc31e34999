/** Helpers the strategies share: labelled outputs, agent-named failures, concurrent steps. */
import { HarnessError, toHarnessError } from '../../errors.ts';
import type { Agent } from '../agent.ts';
import type { AgentStepResult, CouncilContext } from './types.ts';

/** Agents' outputs as the next agent reads them: `[Name] output`, one paragraph each, in the order given. */
export function labelled(results: ReadonlyArray<{ agent: string; output: string }>): string {
  return results.map((result) => `[${result.agent}] ${result.output}`).join('\n\n');
}

/** The first `max` characters of `text` on one line, for a decision's `chosen` and `detail`. */
export function excerpt(text: string, max = 80): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/** True when `text` mentions `name` as a whole word (case-insensitive; letters, digits and `_` bound words). */
export function mentions(text: string, name: string): boolean {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^\\p{L}\\p{N}_])${escaped}($|[^\\p{L}\\p{N}_])`, 'iu').test(text);
}

/**
 * `error` as a `HarnessError` that names the agent it came from (`agent "X" failed: …`), with
 * its code, hint, retryability and details kept and `details.agent` added. Aborts and limits
 * stay as they are: they end the whole run rather than being one agent's failure.
 */
export function agentFailure(error: unknown, agent: string): HarnessError {
  const e = toHarnessError(error);
  if (e.code === 'aborted' || e.code === 'limit_exceeded') return e;
  return new HarnessError(e.code, `agent "${agent}" failed: ${e.message}`, {
    cause: e,
    isRetryable: e.isRetryable,
    hint: e.hint,
    location: e.location,
    details: { ...e.details, agent },
  });
}

/**
 * `ctx.runAgent`, always as a promise (also when it throws synchronously, on a duplicate key
 * say), whose failure names the agent (see {@link agentFailure}).
 */
export async function step(
  ctx: CouncilContext,
  agent: Agent,
  input: string,
  options: { key?: string; signal?: AbortSignal } = {},
): Promise<AgentStepResult> {
  try {
    return await ctx.runAgent(agent, input, options);
  } catch (error) {
    throw agentFailure(error, agent.name);
  }
}

/** One step of {@link runConcurrently}. */
export interface ConcurrentStep {
  agent: Agent;
  input: string;
  /** Journal key (default: the agent's name). */
  key?: string;
}

/**
 * Runs `steps` at the same time and returns their results in the order given. The first
 * failure cancels the others (through their step signal), waits for them to settle and is
 * thrown, naming its agent; the run's own abort is thrown as it is.
 */
export async function runConcurrently(
  ctx: CouncilContext,
  steps: readonly ConcurrentStep[],
): Promise<AgentStepResult[]> {
  const siblings = new AbortController();
  let failure: HarnessError | undefined;
  const settled = await Promise.allSettled(
    steps.map((s) =>
      step(ctx, s.agent, s.input, {
        ...(s.key === undefined ? {} : { key: s.key }),
        signal: siblings.signal,
      }).catch((error: unknown) => {
        // Only the first failure counts: the others are usually the cancellation it caused.
        if (failure === undefined) {
          failure = toHarnessError(error);
          siblings.abort(failure);
        }
        throw error;
      }),
    ),
  );
  if (failure !== undefined) throw failure;
  return settled.map((result) => (result as PromiseFulfilledResult<AgentStepResult>).value);
}
