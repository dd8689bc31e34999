/**
 * `Probe`: one health check of one dependency (ARCHITECTURE §4). The monitor runs probes on an
 * interval; readiness is "every critical probe is up".
 */
import { toHarnessError } from '../errors.ts';
import type { MemoryStore } from '../memory/index.ts';

export type ProbeStatus = 'up' | 'degraded' | 'down';

/** What a probe's check returns. */
export interface ProbeCheck {
  status: ProbeStatus;
  /** Short, secret-free explanation (e.g. `redis://127.0.0.1:6379: connection refused`). */
  detail?: string;
  /**
   * Measurements behind the status, JSON-serialisable and secret-free (e.g. a model probe's
   * `latencyMs`, the process probe's event-loop lag); shown as they are by `/health`.
   */
  data?: Record<string, unknown>;
}

export interface Probe {
  /** Unique within a monitor, e.g. `memory:sqlite://.forge/memory.db`. */
  readonly name: string;
  readonly kind: 'memory' | 'provider' | 'engine' | 'skill' | 'process' | 'journal';
  /** Whether a failure makes the process not ready (default true). */
  readonly critical?: boolean;
  /**
   * How long the monitor lets this probe run before it counts as `down`, ms (default: the
   * monitor's `timeoutMs`). A probe that makes a real model call needs longer than a ping.
   */
  readonly timeoutMs?: number;
  /** Checks once; must honour `signal` (the monitor aborts it after its timeout). */
  check(signal: AbortSignal): Promise<ProbeCheck>;
}

/** A memory store is up when `ping` answers; its error (a `memory_error`) is the detail when it does not. */
export function createMemoryProbe(
  store: MemoryStore,
  options: { name?: string; critical?: boolean } = {},
): Probe {
  return {
    name: options.name ?? `memory:${store.url}`,
    kind: 'memory',
    critical: options.critical ?? true,
    async check(signal) {
      try {
        await store.ping({ signal });
        return { status: 'up' };
      } catch (error) {
        const e = toHarnessError(error, 'memory_error');
        return { status: 'down', detail: `${e.message}${e.isRetryable ? ' (retryable)' : ''}` };
      }
    },
  };
}
