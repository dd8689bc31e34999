/**
 * concurrency: 10 000 runs in one process on a model that answers after 1 s, with the run
 * journal on (a SQLite file in a temp dir) and memory `memory://`.
 *
 * The council (bench/pair-council.ts) is two agents in `parallel` without a merge agent: 2 model
 * calls at once, a merge decision and 2 agent steps journaled per run. The model waits
 * `BENCH_LATENCY_MS` on a timer and then streams a six-word answer; `BENCH_MODEL=simulated` uses
 * the `simulated` provider with `latencyMs` instead (its answers are longer, one delta per word).
 * The scheduler admits every run at once and the model takes `2 × runs` calls in flight (the
 * defaults, 256 runs and 64 calls per model, would measure the admission queue instead).
 *
 * Runs are launched as a server receives them: `BENCH_LAUNCH_BATCH` per event-loop turn, then
 * the next turn (one synchronous loop of 10 000 would be a single block of the loop:
 * `BENCH_LAUNCH_BATCH=10000` measures that burst). `peak_in_flight` says how many were in flight
 * at once: all of them only if launching them all takes less than the model's latency.
 *
 * Figures, over the whole batch (first launch to last result):
 * - `lag_p99_ms` (goal < 50), `lag_p50_ms`, `lag_max_ms`: event-loop lag from
 *   `perf_hooks.monitorEventLoopDelay` at `BENCH_LAG_RESOLUTION_MS` (default 10). A sample is the
 *   time between two ticks of its timer, so the lag is the sample minus the resolution; the loop
 *   takes a sample per tick it manages, so one long block is one sample (`lag_max_ms`).
 * - `rss_mb` (goal < 1024): the process's peak resident set (`resourceUsage().maxRSS`), MiB.
 *   `heap_live_mb`: the largest heap in use right after a full (mark-compact) GC during the batch —
 *   what the runs in flight really keep; the rest of `rss_mb` is garbage V8 has not collected yet
 *   (it lets the old generation grow to about 4× the live heap when the heap limit is large),
 *   the young generation, code and buffers.
 * - `wall_s`, `runs_per_s`, `launch_s` (first to last launch); `cpu_ms_per_run`: the main
 *   thread's CPU time over the batch per run — the batch needs at least runs × that of one
 *   thread, and the loop is saturated while work arrives faster than that. `cpu_steal_s` (Linux):
 *   CPU time the hypervisor gave to other guests meanwhile, all CPUs — seconds of it mean the batch
 *   ran on a slower machine than the others.
 * - `journal_mb`: the journal file once the harness has closed it (and its WAL is merged).
 *   The bench fails unless every run succeeded and the journal holds every run as succeeded.
 *
 * Environment: BENCH_RUNS (10000), BENCH_LATENCY_MS (1000), BENCH_LAUNCH_BATCH (100),
 * BENCH_LAG_RESOLUTION_MS (10), BENCH_MODEL (`pair` or `simulated`), BENCH_STREAM (`auto`, the
 * harness's default: `RunOptions.stream` unset, so these runs, which nobody watches live, make one
 * non-streaming call per step; `true`: every answer streamed as token deltas, as if each run had a
 * live viewer; `false`: never streamed), BENCH_LOOP_SLICE_MS (the scheduler's `loopSliceMs`),
 * BENCH_LAG_LOG (ms: log every turn of the loop longer than that). Progress on stderr every second.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { Harness, type ModelEntry, type RunResult } from 'forge-harness';
import { input, pairCouncil, pairModelEntry } from './pair-council.ts';

const runs = Number(process.env.BENCH_RUNS ?? 10_000);
const latencyMs = Number(process.env.BENCH_LATENCY_MS ?? 1000);
const launchBatch = Number(process.env.BENCH_LAUNCH_BATCH ?? 100);
const resolution = Number(process.env.BENCH_LAG_RESOLUTION_MS ?? 10);
const modelKind = process.env.BENCH_MODEL ?? 'pair';
// `auto` (the harness's default, RunOptions.stream unset): runs nobody watches live make one
// non-streaming call per step — here nobody does, as for a server that returns each result.
// `true`: every answer streamed as token-delta events (as if each run had a live viewer).
const streamMode = process.env.BENCH_STREAM ?? 'auto';
if (!['auto', 'true', 'false'].includes(streamMode)) {
  throw new Error(`BENCH_STREAM: "${streamMode}" is not auto, true or false`);
}
const runOptions = streamMode === 'auto' ? {} : { stream: streamMode === 'true' };
if (modelKind !== 'pair' && modelKind !== 'simulated') {
  throw new Error(`BENCH_MODEL: "${modelKind}" is neither pair nor simulated`);
}
const goals = { lag_p99_ms: 50, rss_mb: 1024 };
const log = (line: string) => process.stderr.write(`${line}\n`);
const mib = (bytes: number) => bytes / 1024 / 1024;
const round = (x: number, digits: number) => Number(x.toFixed(digits));

const model: ModelEntry =
  modelKind === 'pair'
    ? pairModelEntry(latencyMs, 2 * runs)
    : {
        id: 'pair',
        type: 'simulated',
        latencyMs,
        contextWindow: 128_000,
        rateLimits: { maxConcurrency: 2 * runs },
      };
const dir = mkdtempSync(join(tmpdir(), 'forge-bench-concurrency-'));
const journalPath = join(dir, 'journal.db');
const harness = new Harness({
  models: [model],
  councils: [pairCouncil],
  scheduler: {
    maxConcurrentRuns: runs,
    maxQueuedRuns: runs,
    ...(process.env.BENCH_LOOP_SLICE_MS === undefined
      ? {}
      : { loopSliceMs: Number(process.env.BENCH_LOOP_SLICE_MS) }),
  },
  memory: 'memory://',
  journal: journalPath,
});

let stopped = false;
try {
  // One run first: the council is prepared (memory pinged), code paths are compiled, the journal
  // file exists. It is not part of the figures.
  const warm = await harness.run('pair', input, runOptions);
  if (warm.status !== 'succeeded') throw warm.error ?? new Error(`warm-up run ${warm.status}`);

  const lag = monitorEventLoopDelay({ resolution });
  let heapLive = 0;
  const gcs = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        heapLive = Math.max(heapLive, process.memoryUsage().heapUsed);
      }
    }
  });
  gcs.observe({ entryTypes: ['gc'] });
  let launched = 0;
  let finished = 0;
  let peakInFlight = 0;
  const failures: RunResult[] = [];
  const results: Array<Promise<void>> = [];
  const started = performance.now();
  const cpuBefore = process.threadCpuUsage();
  const stealBefore = stealSeconds();
  const progress = setInterval(() => {
    log(
      `${((performance.now() - started) / 1000).toFixed(1)} s: launched ${launched}, finished ${finished}, ` +
        `in flight ${launched - finished}, rss ${mib(process.memoryUsage.rss()).toFixed(0)} MiB, ` +
        `lag max so far ${Math.max(0, lag.max / 1e6 - resolution).toFixed(1)} ms`,
    );
  }, 1000);
  lag.enable();
  // BENCH_LAG_LOG=ms: each turn of the loop longer than that, when it happened (a 5 ms probe timer).
  const lagLog = Number(process.env.BENCH_LAG_LOG ?? 0);
  let probeAt = performance.now();
  const probe =
    lagLog > 0
      ? setInterval(() => {
          const now = performance.now();
          const late = now - probeAt - 5;
          probeAt = now;
          if (late > lagLog) {
            log(
              `  ${((now - started) / 1000).toFixed(2)} s: a turn of ${late.toFixed(0)} ms ` +
                `(launched ${launched}, finished ${finished}, gate ${JSON.stringify(harness.scheduler.stats().loop)})`,
            );
          }
        }, 5)
      : undefined;
  while (launched < runs) {
    const n = Math.min(launchBatch, runs - launched);
    for (let i = 0; i < n; i++) {
      const run = harness.run('pair', input, runOptions);
      launched++;
      peakInFlight = Math.max(peakInFlight, launched - finished);
      results.push(
        run.result.then((result) => {
          finished++;
          if (result.status !== 'succeeded') failures.push(result);
        }),
      );
    }
    await nextTurn();
  }
  const launchedAt = performance.now();
  await Promise.all(results);
  const wallMs = performance.now() - started;
  const cpu = process.threadCpuUsage(cpuBefore);
  const stealAfter = stealSeconds();
  lag.disable();
  clearInterval(progress);
  clearInterval(probe);

  if (failures.length > 0) {
    const first = failures[0]!;
    throw new Error(
      `${failures.length} of ${runs} runs did not succeed; first: ${first.status} ${first.error?.code}: ${first.error?.message}`,
    );
  }
  // The warm-up run is in the journal too.
  const journaled = harness.runs({ status: 'succeeded', limit: runs + 10 }).length;
  if (journaled !== runs + 1)
    throw new Error(`the journal holds ${journaled} succeeded runs, expected ${runs + 1}`);
  const rssMb = process.resourceUsage().maxRSS / 1024;
  gcs.disconnect();
  await harness.stop();
  stopped = true;
  // The journal's last connection (its checkpoint worker's, closing a moment later) copies the
  // WAL into the file and removes it: the file is complete once the WAL is gone.
  const deadline = Date.now() + 30_000;
  while (existsSync(`${journalPath}-wal`) && Date.now() < deadline) await sleep(20);
  const lagMs = (q: number) => Math.max(0, lag.percentile(q) / 1e6 - resolution);
  const result = {
    bench: 'concurrency',
    runs,
    succeeded: runs - failures.length,
    peak_in_flight: peakInFlight,
    lag_p99_ms: round(lagMs(99), 1),
    lag_p50_ms: round(lagMs(50), 1),
    lag_max_ms: round(Math.max(0, lag.max / 1e6 - resolution), 1),
    lag_samples: lag.count,
    rss_mb: round(rssMb, 0),
    heap_live_mb: round(mib(heapLive), 0),
    wall_s: round(wallMs / 1000, 2),
    runs_per_s: round(runs / (wallMs / 1000), 0),
    launch_s: round((launchedAt - started) / 1000, 2),
    cpu_ms_per_run: round((cpu.user + cpu.system) / 1000 / runs, 3),
    ...(stealBefore === undefined || stealAfter === undefined
      ? {}
      : { cpu_steal_s: round(stealAfter - stealBefore, 2) }),
    journal_mb: round(mib(statSync(journalPath).size), 1),
    goals,
    model: modelKind,
    stream: streamMode,
    latency_ms: latencyMs,
    launch_batch: launchBatch,
    lag_resolution_ms: resolution,
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    nproc: cpus().length,
  };
  if (peakInFlight !== runs) {
    log(
      `note: ${peakInFlight} of ${runs} runs were in flight at once (the first ended before the last started)`,
    );
  }
  console.log(JSON.stringify(result));
} finally {
  if (!stopped) await harness.stop();
  rmSync(dir, { recursive: true, force: true });
}

/**
 * CPU time the hypervisor gave to other guests, all CPUs, seconds (Linux `/proc/stat`; undefined
 * elsewhere). A batch during which it grew by seconds ran on a slower machine than the others.
 */
function stealSeconds(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const steal = Number(line.trim().split(/\s+/)[8]);
    return Number.isFinite(steal) ? steal / 100 : undefined;
  } catch {
    return undefined;
  }
}
