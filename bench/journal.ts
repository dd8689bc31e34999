/**
 * journal: what the run journal costs a run. Two harnesses in one process run the same council
 * on the same zero-latency model, one with `journal: false`, one journaling to a SQLite file in
 * a temp dir; both with memory `memory://`.
 *
 * The council (bench/pair-council.ts) is two agents in `parallel` without a merge agent, so a
 * run journals the run row, 2 model calls, a merge decision, 2 agent steps, its 16 events (all
 * but token deltas) and its end: 7 commits (events ride along with the next one).
 *
 * Two modes, each in rounds that alternate off/on (the order flips every round) so machine noise
 * hits both sides:
 * - `sequential`: `BENCH_RUNS` runs one after another; ms per run = the round's time / runs.
 * - `concurrent`: `BENCH_CONCURRENT_RUNS` runs, `BENCH_CONCURRENCY` in flight at a time;
 *   ms per run = the round's wall time / runs (throughput, the shape of a busy server).
 * Each figure is the median over rounds; `ratio` per mode is the median of the rounds' on / off
 * ratios of wall time, and the headline `ratio` is the worse of the two modes. `cpu_ms` is the
 * main thread's CPU time per run (`process.threadCpuUsage`), less sensitive to a shared machine
 * than wall time; `cpu_ratio` is its on / off ratio (the journal's checkpoint worker runs on
 * another thread and is not in it).
 *
 * Environment: BENCH_ROUNDS (8), BENCH_RUNS (200), BENCH_CONCURRENT_RUNS (1000),
 * BENCH_CONCURRENCY (50), BENCH_WARMUP (200), BENCH_STREAM (`true`, the harness's default;
 * `false`: `RunOptions.stream: false`, one non-streaming call per step).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Harness } from 'forge-harness';
import { input, pairCouncil, pairModelEntry } from './pair-council.ts';

const rounds = Number(process.env.BENCH_ROUNDS ?? 8);
const sequentialRuns = Number(process.env.BENCH_RUNS ?? 200);
const concurrentRuns = Number(process.env.BENCH_CONCURRENT_RUNS ?? 1000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 50);
const warmup = Number(process.env.BENCH_WARMUP ?? 200);
// The harness's default: model answers streamed as token-delta events. `false`: one
// non-streaming call per step (RunOptions.stream), much less work per run around the journal.
const stream = (process.env.BENCH_STREAM ?? 'true') !== 'false';
const log = (line: string) => process.stderr.write(`${line}\n`);
const round = (x: number, digits: number) => Number(x.toFixed(digits));
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

// Both calls of a run may be in flight for every concurrent run (the limiter's default is 64).
const models = [pairModelEntry(0, 4 * concurrency)];
const council = pairCouncil;

const dir = mkdtempSync(join(tmpdir(), 'forge-bench-journal-'));
const sides = {
  off: new Harness({ models, councils: [council], memory: 'memory://', journal: false }),
  on: new Harness({ models, councils: [council], memory: 'memory://', journal: join(dir, 'journal.db') }),
};
type Side = keyof typeof sides;
const ran: Record<Side, number> = { off: 0, on: 0 };

async function once(side: Side): Promise<void> {
  const result = await sides[side].run('pair', input, { stream });
  if (result.status !== 'succeeded') {
    throw new Error(`${side}: run ${result.status}: ${result.error?.code}: ${result.error?.message}`);
  }
  ran[side]++;
}

/** Wall and main-thread CPU ms per run of what `work` runs (`n` runs). */
async function timed(n: number, work: () => Promise<void>): Promise<{ ms: number; cpuMs: number }> {
  const cpu = process.threadCpuUsage();
  const start = performance.now();
  await work();
  const wall = performance.now() - start;
  const used = process.threadCpuUsage(cpu);
  return { ms: wall / n, cpuMs: (used.user + used.system) / 1000 / n };
}

/** `n` runs one after another. */
function sequential(side: Side, n: number) {
  return timed(n, async () => {
    for (let i = 0; i < n; i++) await once(side);
  });
}

/** `n` runs with `width` in flight at a time. */
function concurrent(side: Side, n: number, width: number) {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      await once(side);
    }
  };
  return timed(n, async () => {
    await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
  });
}

interface ModeFigures {
  off_ms: number;
  on_ms: number;
  ratio: number;
  off_cpu_ms: number;
  on_cpu_ms: number;
  cpu_ratio: number;
}

async function measure(mode: 'sequential' | 'concurrent'): Promise<ModeFigures> {
  const timeOf = (side: Side) =>
    mode === 'sequential' ? sequential(side, sequentialRuns) : concurrent(side, concurrentRuns, concurrency);
  const ms: Record<Side, number[]> = { off: [], on: [] };
  const cpuMs: Record<Side, number[]> = { off: [], on: [] };
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const order: Side[] = r % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
    const got = {} as Record<Side, { ms: number; cpuMs: number }>;
    for (const side of order) got[side] = await timeOf(side);
    for (const side of order) {
      ms[side].push(got[side].ms);
      cpuMs[side].push(got[side].cpuMs);
    }
    ratios.push(got.on.ms / got.off.ms);
    cpuRatios.push(got.on.cpuMs / got.off.cpuMs);
    log(
      `${mode} round ${r + 1}/${rounds}: off ${got.off.ms.toFixed(3)} ms/run (cpu ${got.off.cpuMs.toFixed(3)}), ` +
        `on ${got.on.ms.toFixed(3)} ms/run (cpu ${got.on.cpuMs.toFixed(3)}), ratio ${(got.on.ms / got.off.ms).toFixed(3)}`,
    );
  }
  return {
    off_ms: round(median(ms.off), 3),
    on_ms: round(median(ms.on), 3),
    ratio: round(median(ratios), 3),
    off_cpu_ms: round(median(cpuMs.off), 3),
    on_cpu_ms: round(median(cpuMs.on), 3),
    cpu_ratio: round(median(cpuRatios), 3),
  };
}

try {
  for (const side of ['off', 'on'] as const) {
    await sequential(side, warmup);
    await concurrent(side, warmup, concurrency);
  }
  const seq = await measure('sequential');
  const conc = await measure('concurrent');
  // Every journaled run must be in the journal as succeeded, or the "on" side did not do its work.
  const journaled = sides.on.runs({ status: 'succeeded', limit: ran.on + 10 }).length;
  if (journaled !== ran.on)
    throw new Error(`the journal holds ${journaled} succeeded runs, expected ${ran.on}`);
  const result = {
    bench: 'journal',
    ratio: Math.max(seq.ratio, conc.ratio),
    sequential: seq,
    concurrent: { ...conc, concurrency },
    runs_per_round: { sequential: sequentialRuns, concurrent: concurrentRuns },
    stream,
    rounds,
    warmup,
    journaled_runs: journaled,
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    nproc: cpus().length,
  };
  console.log(JSON.stringify(result));
} finally {
  await Promise.all([sides.off.stop(), sides.on.stop()]);
  rmSync(dir, { recursive: true, force: true });
}
