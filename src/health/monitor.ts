/**
 * `HealthMonitor`: runs every probe on an interval (default 10 s), each bounded by a timeout, and
 * keeps the last result of each. Readiness = every critical probe has been checked and is `up`.
 * Listeners hear about status changes (a healer acts on them; `/readyz` reads `report()`).
 */
import type { Probe, ProbeCheck, ProbeStatus } from './probe.ts';

export interface ProbeResult {
  name: string;
  kind: Probe['kind'];
  critical: boolean;
  status: ProbeStatus;
  detail?: string;
  /** The probe's measurements (see `ProbeCheck.data`). */
  data?: Record<string, unknown>;
  /** How long the check took, ms. */
  latencyMs: number;
  /** Epoch ms of the check. */
  checkedAt: number;
  /** Epoch ms since when the status has been what it is. */
  since: number;
}

export interface HealthReport {
  /**
   * True when every critical probe has been checked and is up (and at least one check has run):
   * a dependency not checked yet counts as not ready.
   */
  ready: boolean;
  /**
   * Overall: `down` when a critical probe is down; `degraded` when any other probe is not up or a
   * critical probe has not been checked yet; `up` otherwise.
   */
  status: ProbeStatus;
  /** Epoch ms of the newest result (0 before the first). */
  checkedAt: number;
  probes: ProbeResult[];
  /** Names of probes added but not checked yet. */
  pending: string[];
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
  #lastRoundAt = 0;

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

  /** Removes a probe and its last result; false when there was none of that name. */
  remove(name: string): boolean {
    this.#results.delete(name);
    return this.#probes.delete(name);
  }

  has(name: string): boolean {
    return this.#probes.has(name);
  }

  /** The probes, in the order they were added. */
  probes(): Probe[] {
    return [...this.#probes.values()];
  }

  /** Between rounds while started, ms. */
  get intervalMs(): number {
    return this.#intervalMs;
  }

  /** True between `start()` and `stop()`. */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Epoch ms when the last round of checks finished (0 before the first). */
  get lastRoundAt(): number {
    return this.#lastRoundAt;
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

  /**
   * Runs one round of every probe (concurrent callers share it) and returns the report. A probe
   * added while a round runs is checked in that round too, so the report has a result for every
   * probe registered when `check()` was called.
   */
  check(): Promise<HealthReport> {
    this.#round ??= this.#runRound().finally(() => {
      this.#round = undefined;
    });
    return this.#round;
  }

  /** The last results, without checking. */
  report(): HealthReport {
    const probes = [...this.#results.values()];
    const pending = [...this.#probes.values()].filter((p) => !this.#results.has(p.name));
    const criticalPending = pending.some((p) => p.critical ?? true);
    const ready =
      probes.length > 0 && !criticalPending && probes.every((p) => !p.critical || p.status === 'up');
    const status: ProbeStatus = probes.some((p) => p.critical && p.status === 'down')
      ? 'down'
      : criticalPending || probes.some((p) => p.status !== 'up')
        ? 'degraded'
        : 'up';
    return {
      ready,
      status,
      checkedAt: Math.max(0, ...probes.map((p) => p.checkedAt)),
      probes,
      pending: pending.map((p) => p.name),
    };
  }

  /** Checks one probe now, outside the rounds (e.g. a state that just changed); undefined for an unknown name. */
  async checkProbe(name: string): Promise<ProbeResult | undefined> {
    const probe = this.#probes.get(name);
    if (!probe) return undefined;
    await this.#checkOne(probe);
    return this.#results.get(name);
  }

  async #runRound(): Promise<HealthReport> {
    const checked = new Set<Probe>();
    for (;;) {
      const due = [...this.#probes.values()].filter((probe) => !checked.has(probe));
      if (due.length === 0) break;
      for (const probe of due) checked.add(probe);
      await Promise.all(due.map((probe) => this.#checkOne(probe)));
    }
    this.#lastRoundAt = this.#now();
    return this.report();
  }

  async #checkOne(probe: Probe): Promise<void> {
    const started = this.#now();
    const controller = new AbortController();
    const timeoutMs = probe.timeoutMs ?? this.#timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<ProbeCheck>((resolve) => {
      timer = setTimeout(() => {
        controller.abort(new Error('health check timed out'));
        resolve({ status: 'down', detail: `timed out after ${timeoutMs} ms` });
      }, timeoutMs);
    });
    let outcome: ProbeCheck;
    try {
      outcome = await Promise.race([probe.check(controller.signal), timeout]);
    } catch (error) {
      outcome = { status: 'down', detail: error instanceof Error ? error.message : String(error) };
    } finally {
      clearTimeout(timer);
    }
    // A probe removed or replaced while it ran leaves no result behind.
    if (this.#probes.get(probe.name) !== probe) return;
    const checkedAt = this.#now();
    const previous = this.#results.get(probe.name);
    const result: ProbeResult = {
      name: probe.name,
      kind: probe.kind,
      critical: probe.critical ?? true,
      status: outcome.status,
      ...(outcome.detail === undefined ? {} : { detail: outcome.detail }),
      ...(outcome.data === undefined ? {} : { data: outcome.data }),
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
