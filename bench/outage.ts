/**
 * outage: a primary model goes down under steady load and comes back; a healthy fallback is
 * configured. Measured against FakeProviderServer in this process (the primary answers 503 for
 * every request while down), with the gateway's defaults: retries (2), breakers (5 failures in a
 * row open a model's breaker, a probe after 5 s), the scheduler's limiter.
 *
 * Figures:
 * - `failed_requests` (goal 0): calls that threw, over the whole bench.
 * - `first_fallback_ms`: from the outage to the first call answered by the fallback (that call's
 *   retries on the primary included; goal: the first call that meets the outage already falls back).
 * - `breaker_open_ms` (goal < 1000): from the outage to the primary's breaker opening; from then on
 *   calls skip the primary at once.
 * - `skipped_calls`: calls during the outage that never tried the primary (breaker open).
 * - `back_on_primary_s` (goal ≤ 30): from the recovery to the first call answered by the primary
 *   again, brought back by a half-open probe.
 *
 * Environment: BENCH_WORKERS (8 callers in a loop), BENCH_PAUSE_MS (10, between a worker's calls),
 * BENCH_OUTAGE_S (7; not a multiple of the cooldown, so recovery does not meet a probe by chance), BENCH_HALF_OPEN_MS (the breaker cooldown, default the gateway's 5000).
 */
import { cpus } from 'node:os';
import { Harness, type ModelEntry } from 'forge-harness';
import { FakeProviderServer } from 'forge-harness/testing';

const workers = Number(process.env.BENCH_WORKERS ?? 8);
const pauseMs = Number(process.env.BENCH_PAUSE_MS ?? 10);
const outageMs = Number(process.env.BENCH_OUTAGE_S ?? 7) * 1000;
const halfOpenMs =
  process.env.BENCH_HALF_OPEN_MS === undefined ? undefined : Number(process.env.BENCH_HALF_OPEN_MS);

const fake = await FakeProviderServer.start({ maxRecordedRequests: 10 });
const primary: ModelEntry = {
  id: 'primary',
  type: 'openai-compatible',
  model: 'p',
  endpoint: fake.baseUrl('openai-compatible'),
  ...(halfOpenMs === undefined ? {} : { breaker: { halfOpenAfterMs: halfOpenMs } }),
};
const fallback: ModelEntry = {
  id: 'fallback',
  type: 'anthropic',
  model: 'b',
  apiKey: 'sk-ant-bench-outage',
  endpoint: fake.baseUrl('anthropic'),
};
const harness = new Harness({ models: [primary, fallback], memory: 'memory://', journal: false });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let phase: 'up' | 'down' | 'recovered' = 'up';
let downAt = 0;
let upAt = 0;
let failed = 0;
let calls = 0;
let firstFallbackAt: number | undefined;
let backOnPrimaryAt: number | undefined;
let breakerOpenAt: number | undefined;
let skipped = 0;
let stop = false;

harness.registry.breakers.onChange((change) => {
  if (change.scope === 'model' && change.key === 'primary' && change.state === 'open' && phase === 'down') {
    breakerOpenAt ??= change.at;
  }
});

async function worker(): Promise<void> {
  while (!stop) {
    const started = Date.now();
    const during = phase;
    const primaryBefore = fake.counters().byModel.p ?? 0;
    try {
      const result = await harness.callLlm({ model: 'primary', prompt: 'ping', fallback: ['fallback'] });
      calls += 1;
      const now = Date.now();
      if (during === 'down' && result.model === 'fallback') {
        firstFallbackAt ??= now;
        if (
          (fake.counters().byModel.p ?? 0) === primaryBefore &&
          breakerOpenAt !== undefined &&
          started > breakerOpenAt
        )
          skipped += 1;
      }
      if (phase === 'recovered' && started >= upAt && result.model === 'primary') backOnPrimaryAt ??= now;
    } catch {
      failed += 1;
    }
    await sleep(pauseMs);
  }
}

const running = Array.from({ length: workers }, () => worker());
await sleep(1000);
phase = 'down';
downAt = Date.now();
fake.injectFault({ status: 503, times: 1_000_000_000, match: { model: 'p' } });
process.stderr.write(`outage: primary down at +0 ms\n`);
await sleep(outageMs);
fake.reset();
phase = 'recovered';
upAt = Date.now();
process.stderr.write(`outage: primary up again after ${outageMs} ms\n`);
const deadline = Date.now() + 60_000;
while (backOnPrimaryAt === undefined && Date.now() < deadline) await sleep(20);
stop = true;
await Promise.all(running);
await harness.stop();
await fake.close();

const round = (n: number | undefined, digits = 0) => (n === undefined ? null : Number(n.toFixed(digits)));
console.log(
  JSON.stringify({
    bench: 'outage',
    failed_requests: failed,
    first_fallback_ms: round(firstFallbackAt === undefined ? undefined : firstFallbackAt - downAt),
    breaker_open_ms: round(breakerOpenAt === undefined ? undefined : breakerOpenAt - downAt),
    skipped_calls: skipped,
    back_on_primary_s: round(backOnPrimaryAt === undefined ? undefined : (backOnPrimaryAt - upAt) / 1000, 2),
    calls,
    workers,
    outage_s: outageMs / 1000,
    half_open_after_ms: halfOpenMs ?? 5000,
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
  }),
);
