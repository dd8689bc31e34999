/**
 * The process probe: event-loop lag (the 99th percentile of the delay of a timer that should
 * fire every `resolutionMs`, from `perf_hooks.monitorEventLoopDelay`) and heap use against the
 * V8 heap limit. `/livez` reads the lag between two checks too, so a process whose event loop
 * keeps stalling is reported as not alive.
 */
import { type ELDHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import type { Probe, ProbeCheck, ProbeStatus } from './probe.ts';

/** Heap use against the most the heap may hold before V8 fails with "heap out of memory", bytes. */
export interface HeapUsage {
  /**
   * Bytes taken by live and not yet collected objects, but for the young generation's semi-space
   * (`new_space`: short-lived objects, collected every few ms and bounded by its own size). Large
   * young objects count: they are promoted whole, and a burst of them is what fills a heap fast.
   */
  used: number;
  /** The old generation's limit: `--max-old-space-size` when given, else `heap_size_limit`. */
  limit: number;
}

let oldSpaceFlag: number | null | undefined;

/** `--max-old-space-size` (MiB) from the command line or `NODE_OPTIONS`, in bytes; null when not set. */
function maxOldSpaceBytes(): number | null {
  if (oldSpaceFlag === undefined) {
    oldSpaceFlag = null;
    const args = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
    for (const [i, arg] of args.entries()) {
      const m = /^--max[-_]old[-_]space[-_]size(?:=(\d+))?$/.exec(arg);
      if (!m) continue;
      const mib = Number(m[1] ?? args[i + 1]);
      if (Number.isFinite(mib) && mib > 0) oldSpaceFlag = mib * 2 ** 20;
    }
  }
  return oldSpaceFlag;
}

/**
 * The V8 heap against its limit (see {@link HeapUsage}). The limit is `--max-old-space-size`
 * when the process was started with it, not `heap_size_limit`: that one also counts the young
 * generation's reserve (192 MiB on Node 24, whatever the old-space size), so with
 * `--max-old-space-size=256` it says 448 MiB and V8 runs out of memory at 57% of it.
 */
export function heapUsage(): HeapUsage {
  let used = 0;
  for (const space of getHeapSpaceStatistics()) {
    if (space.space_name !== 'new_space') used += space.space_used_size;
  }
  const limit = getHeapStatistics().heap_size_limit;
  const old = maxOldSpaceBytes();
  return { used, limit: old === null ? limit : Math.min(old, limit) };
}

/** One window of the process's measurements. */
export interface ProcessStats {
  /** Event-loop lag beyond the timer's resolution, ms: percentiles over the window and its maximum. */
  eventLoopLagMs: { p50: number; p99: number; max: number };
  /** Timer samples in the window (0 when it has just begun; the lag then is the previous window's). */
  samples: number;
  heapUsedBytes: number;
  heapLimitBytes: number;
  /** `heapUsedBytes / heapLimitBytes`, 0..1. */
  heapRatio: number;
  rssBytes: number;
  uptimeSeconds: number;
}

export interface ProcessProbeOptions {
  /** Default `process`. */
  name?: string;
  /** Whether a `down` process makes it not ready (default false: readiness is about dependencies). */
  critical?: boolean;
  /** Lag p99 at or above which the process is `degraded`, ms (default 100). */
  lagDegradedMs?: number;
  /** Lag p99 at or above which the process is `down`, ms (default 1 000). */
  lagDownMs?: number;
  /** Heap used / heap limit at or above which the process is `degraded` (default 0.85). */
  heapDegradedRatio?: number;
  /** Heap used / heap limit at or above which the process is `down` (default 0.95). */
  heapDownRatio?: number;
  /** How often the lag timer fires, ms (default 20; smaller is finer and costs more wake-ups). */
  resolutionMs?: number;
  /** Where heap use comes from (default {@link heapUsage}). */
  heap?: () => HeapUsage;
}

/** A `Probe` of this process, with its measurements readable between checks. */
export interface ProcessProbe extends Probe {
  /**
   * The measurements now, without starting a new window: the lag of the current window, or of
   * the last finished one while the current window has too few samples to say anything.
   */
  sample(): ProcessStats;
  /** The lag p99 at or above which {@link ProcessProbe.check} says `down`, ms. */
  readonly lagDownMs: number;
  /** Stops the lag timer; `check` and `sample` then report the lag measured until now. */
  close(): void;
}

/** Samples a window needs before its lag percentiles stand on their own. */
const minSamples = 10;

/**
 * Builds a process probe. Each `check` reports the window since the previous check and starts a
 * new one, so with the monitor's default interval the lag is the last 10 s of the event loop.
 */
export function createProcessProbe(options: ProcessProbeOptions = {}): ProcessProbe {
  const resolutionMs = options.resolutionMs ?? 20;
  const lagDegradedMs = options.lagDegradedMs ?? 100;
  const lagDownMs = options.lagDownMs ?? 1_000;
  const heapDegradedRatio = options.heapDegradedRatio ?? 0.85;
  const heapDownRatio = options.heapDownRatio ?? 0.95;
  const heap = options.heap ?? heapUsage;
  const histogram: ELDHistogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  let previous = { p50: 0, p99: 0, max: 0 };

  // The histogram records the time between two timer ticks, resolution included; lag is the excess.
  const lagOf = (ns: number) => Math.max(0, Math.round((ns / 1e6 - resolutionMs) * 10) / 10);
  const current = () => ({
    p50: lagOf(histogram.percentile(50)),
    p99: lagOf(histogram.percentile(99)),
    max: lagOf(histogram.max),
  });

  const sample = (): ProcessStats => {
    const samples = histogram.count;
    const lag = samples >= minSamples ? current() : previous;
    const { used, limit } = heap();
    return {
      eventLoopLagMs: lag,
      samples,
      heapUsedBytes: used,
      heapLimitBytes: limit,
      heapRatio: limit > 0 ? used / limit : 0,
      rssBytes: process.memoryUsage.rss(),
      uptimeSeconds: Math.round(process.uptime()),
    };
  };

  return {
    name: options.name ?? 'process',
    kind: 'process',
    critical: options.critical ?? false,
    lagDownMs,
    sample,
    async check(): Promise<ProbeCheck> {
      const stats = sample();
      if (histogram.count >= minSamples) {
        previous = stats.eventLoopLagMs;
        histogram.reset();
      }
      const lag = stats.eventLoopLagMs.p99;
      const lagStatus: ProbeStatus = lag >= lagDownMs ? 'down' : lag >= lagDegradedMs ? 'degraded' : 'up';
      const heapStatus: ProbeStatus =
        stats.heapRatio >= heapDownRatio ? 'down' : stats.heapRatio >= heapDegradedRatio ? 'degraded' : 'up';
      const status = worst(lagStatus, heapStatus);
      const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
      return {
        status,
        detail: `event loop lag p99 ${lag} ms, heap ${mib(stats.heapUsedBytes)} of ${mib(stats.heapLimitBytes)} MiB (${Math.round(stats.heapRatio * 100)}%)`,
        data: { ...stats },
      };
    },
    close() {
      histogram.disable();
    },
  };
}

const rank: Record<ProbeStatus, number> = { up: 0, degraded: 1, down: 2 };

/** The worse of two statuses. */
export function worst(a: ProbeStatus, b: ProbeStatus): ProbeStatus {
  return rank[a] >= rank[b] ? a : b;
}
