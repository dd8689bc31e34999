/**
 * `HealthMonitor`: runs every probe on an interval (default 10 s), each bounded by a timeout, and
 * keeps the last result of each. Readiness = every critical probe is `up`. Listeners hear about
 * status changes (a healer acts on them; the server's `/readyz` reads `report()`).
 */
import type { Probe, ProbeStatus } from './probe.ts';

export interface ProbeResult {
  name: string;
  kind: Probe['kind'];
  critical: boolean;
  status: ProbeStatus;
  detail?: string;
  /** How long the check took, ms. */
  latencyMs: number;
  /** Epoch ms of the check. */
  checkedAt: number;
  /** Epoch ms since when the status has been what it is. */
  since: number;
}

export interface HealthReport {
  /** True when every critical probe is up (and at least one check has run). */
  ready: boolean;
  checkedAt: number;
  probes: ProbeResult[];
}

export interface HealthMonitorOptions {
  /** Between rounds of checks, ms (default 10 000). */
  intervalMs?: number;
  /** A check that takes longer is `down` with detail `timed out after N ms` (default 2 000). */
  timeoutMs?: number;
  now?: () => number;
}

export type HealthListener = (change: { probe: ProbeResult; previous: ProbeStatus | undefined }) => void;

export class HealthMonitor {
  readonly #probes = new Map<string, Probe>();
  readonly #results = new Map<string, ProbeResult>();
  readonly #listeners = new Set<HealthListener>();
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<HealthReport> | undefined;

  constructor(probes: readonly Probe[] = [], options: HealthMonitorOptions = {}) {
    this.#intervalMs = options.intervalMs ?? 10_000;
    this.#timeoutMs = options.timeoutMs ?? 2_000;
    this.#now = options.now ?? Date.now;
    for (const probe of probes) this.add(probe);
  }

  /** Adds (or replaces, same name) a probe; it is checked from the next round. */
  add(probe: Probe): void {
    this.#probes.set(probe.name, probe);
  }

  /** Calls `listener` whenever a probe's status changes (including its first result). */
  onChange(listener: HealthListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Checks now and on every interval until `stop()`. The timer does not keep the process alive. */
  start(): void {
    if (this.#timer) return;
    // A round never rejects (listeners are isolated below); the catch is a last guard for the timer.
    this.check().catch(() => {});
    this.#timer = setInterval(() => this.check().catch(() => {}), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Runs one round of every probe (concurrent callers share it) and returns the report. */
  check(): Promise<HealthReport> {
    this.#round ??= this.#runRound().finally(() => {
      this.#round = undefined;
    });
    return this.#round;
  }

  /** The last results, without checking. */
  report(): HealthReport {
    const probes = [...this.#results.values()];
    return {
      ready: probes.length > 0 && probes.every((p) => !p.critical || p.status === 'up'),
      checkedAt: Math.max(0, ...probes.map((p) => p.checkedAt)),
      probes,
    };
  }

  async #runRound(): Promise<HealthReport> {
    await Promise.all([...this.#probes.values()].map((probe) => this.#checkOne(probe)));
    return this.report();
  }

  async #checkOne(probe: Probe): Promise<void> {
    const started = this.#now();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<{ status: ProbeStatus; detail: string }>((resolve) => {
      timer = setTimeout(() => {
        controller.abort(new Error('health check timed out'));
        resolve({ status: 'down', detail: `timed out after ${this.#timeoutMs} ms` });
      }, this.#timeoutMs);
    });
    let outcome: { status: ProbeStatus; detail?: string };
    try {
      outcome = await Promise.race([probe.check(controller.signal), timeout]);
    } catch (error) {
      outcome = { status: 'down', detail: error instanceof Error ? error.message : String(error) };
    } finally {
      clearTimeout(timer);
    }
    const checkedAt = this.#now();
    const previous = this.#results.get(probe.name);
    const result: ProbeResult = {
      name: probe.name,
      kind: probe.kind,
      critical: probe.critical ?? true,
      status: outcome.status,
      ...(outcome.detail === undefined ? {} : { detail: outcome.detail }),
      latencyMs: checkedAt - started,
      checkedAt,
      since: previous?.status === outcome.status ? previous.since : checkedAt,
    };
    this.#results.set(probe.name, result);
    if (previous?.status !== result.status) {
      for (const listener of this.#listeners) {
        try {
          listener({ probe: result, previous: previous?.status });
        } catch {
          // A failing listener must not stop the monitor or the other listeners.
        }
      }
    }
  }
}
