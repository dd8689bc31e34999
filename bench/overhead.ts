/**
 * overhead: what `Harness.callLlm` adds to a raw AI SDK `generateText` call on a zero-latency
 * model, in the same process. Rounds alternate raw/harness/full so machine noise hits all; the
 * figures are medians of per-round means. Goal (healing issue): ratio ≤ 1.10.
 *
 * - `harness`: `Harness.callLlm` as an application calls it (breakers, retry policy, the
 *   scheduler's limiter — all on by default — no timeouts, no fallback, no events).
 * - `full` (→ `ratio`): the whole gateway as a skill's call inside a run makes it: all four
 *   timeouts set (a clock per attempt), a fallback model in the chain, breakers, retry, the
 *   limiter, model-call events into a run's event log observed by the harness's telemetry
 *   (Prometheus metrics, cost ledger, spans — no tracer provider registered), usage charged to
 *   the run.
 * - `raw_quiet`: raw `generateText` with the AI SDK's telemetry dispatch off
 *   (`telemetry: { isEnabled: false }`), as the harness calls it while no AI SDK telemetry
 *   integration or tracing-channel subscriber listens (src/telemetry/ai-sdk-telemetry.ts). `ratio`
 *   compares with the SDK's defaults, as an application calls it; `ratio_same_sdk_settings`
 *   (full / raw_quiet) is what the harness's own code adds to the same SDK work, and `us_added`
 *   the same in microseconds.
 */
import { cpus } from 'node:os';
import type { LanguageModelV4 } from '@ai-sdk/provider';
import { generateText } from 'ai';
import { Harness, installTelemetry, registerProviderType } from 'forge-harness';
import { callLlm } from '../src/runtime/call-llm.ts';
import { EventLog, emptyUsage } from '../src/runtime/events.ts';

const rounds = Number(process.env.BENCH_ROUNDS ?? 15);
const callsPerRound = Number(process.env.BENCH_CALLS ?? 2000);

const zero: LanguageModelV4 = {
  specificationVersion: 'v4',
  provider: 'zero',
  modelId: 'zero',
  supportedUrls: {},
  doGenerate: async () => ({
    content: [{ type: 'text', text: 'ok' }],
    finishReason: { unified: 'stop', raw: 'stop' },
    usage: {
      inputTokens: { total: 3, noCache: 3, cacheRead: 0, cacheWrite: 0 },
      outputTokens: { total: 1, text: 1, reasoning: 0 },
    },
    warnings: [],
  }),
  doStream: async () => {
    throw new Error('not used');
  },
};

registerProviderType('bench-zero', { create: () => zero });
const harness = new Harness({
  models: [
    { id: 'zero', type: 'bench-zero', contextWindow: 128_000 },
    {
      id: 'zero-full',
      type: 'bench-zero',
      contextWindow: 128_000,
      timeouts: { connectMs: 30_000, firstTokenMs: 30_000, betweenTokensMs: 10_000, totalMs: 60_000 },
    },
    { id: 'zero-fallback', type: 'bench-zero', contextWindow: 128_000 },
  ],
  memory: 'memory://',
  journal: false,
});
const prompt = 'Say ok.';

async function raw(n: number) {
  for (let i = 0; i < n; i++) await generateText({ model: zero, prompt, maxRetries: 0 });
}
async function rawQuiet(n: number) {
  for (let i = 0; i < n; i++)
    await generateText({ model: zero, prompt, maxRetries: 0, telemetry: { isEnabled: false } });
}
async function viaHarness(n: number) {
  for (let i = 0; i < n; i++) await harness.callLlm({ model: 'zero', prompt });
}
let fullRounds = 0;
async function viaFull(n: number) {
  // One run's log and usage per round, as a skill's calls in a run have, with the harness's
  // telemetry (metrics, cost ledger, spans) observing its events as it observes every run's.
  const log = new EventLog(`bench-overhead-${++fullRounds}`);
  const telemetry = installTelemetry({
    subscribe: (listener) => log.subscribe(listener, { tokenDeltas: false }),
    registry: harness.registry,
  });
  log.emit(['Council'], { type: 'run-start', council: 'Council', input: prompt });
  const deps = {
    registry: harness.registry,
    limiter: harness.scheduler.limiter,
    log,
    path: ['Council', 'Agent'],
    charge: [emptyUsage()],
  };
  for (let i = 0; i < n; i++)
    await callLlm(deps, { model: 'zero-full', prompt, fallback: ['zero-fallback'] });
  log.emit(['Council'], {
    type: 'run-finish',
    output: 'ok',
    usage: deps.charge[0] ?? emptyUsage(),
    durationMs: 0,
  });
  telemetry.close();
}
async function time(fn: (n: number) => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn(callsPerRound);
  return Number(process.hrtime.bigint() - start) / 1000 / callsPerRound;
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

await raw(callsPerRound);
await rawQuiet(callsPerRound);
await viaHarness(callsPerRound);
await viaFull(callsPerRound);
const rawUs: number[] = [];
const quietUs: number[] = [];
const ownRatios: number[] = [];
const harnessUs: number[] = [];
const fullUs: number[] = [];
const ratios: number[] = [];
const fullRatios: number[] = [];
for (let r = 0; r < rounds; r++) {
  const a = await time(raw);
  const q = await time(rawQuiet);
  const b = await time(viaHarness);
  const c = await time(viaFull);
  rawUs.push(a);
  quietUs.push(q);
  ownRatios.push(c / q);
  harnessUs.push(b);
  fullUs.push(c);
  ratios.push(b / a);
  fullRatios.push(c / a);
  process.stderr.write(
    `round ${r + 1}/${rounds}: raw ${a.toFixed(1)} µs, raw quiet ${q.toFixed(1)} µs, harness ${b.toFixed(1)} µs (${(b / a).toFixed(3)}), full ${c.toFixed(1)} µs (${(c / a).toFixed(3)})\n`,
  );
}
const rawMedian = median(rawUs);
const harnessMedian = median(harnessUs);
const fullMedian = median(fullUs);
const result = {
  bench: 'overhead',
  raw_us: Number(rawMedian.toFixed(2)),
  harness_us: Number(harnessMedian.toFixed(2)),
  full_us: Number(fullMedian.toFixed(2)),
  raw_quiet_us: Number(median(quietUs).toFixed(2)),
  us_added: Number((fullMedian - median(quietUs)).toFixed(2)),
  ratio: Number(median(fullRatios).toFixed(3)),
  ratio_same_sdk_settings: Number(median(ownRatios).toFixed(3)),
  ratio_harness: Number(median(ratios).toFixed(3)),
  rounds,
  calls_per_round: callsPerRound,
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
};
console.log(JSON.stringify(result));
