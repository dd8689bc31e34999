/**
 * overhead: what `Harness.callLlm` adds to a raw AI SDK `generateText` call on a zero-latency
 * model, in the same process. Rounds alternate raw/harness so machine noise hits both; the
 * figure is the median of per-round means. Goal (healing issue): ratio ≤ 1.10.
 */
import { cpus } from 'node:os';
import type { LanguageModelV4 } from '@ai-sdk/provider';
import { generateText } from 'ai';
import { Harness, registerProviderType } from 'forge-harness';

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
  models: [{ id: 'zero', type: 'bench-zero', contextWindow: 128_000 }],
  memory: 'memory://',
});
const prompt = 'Say ok.';

async function raw(n: number) {
  for (let i = 0; i < n; i++) await generateText({ model: zero, prompt, maxRetries: 0 });
}
async function viaHarness(n: number) {
  for (let i = 0; i < n; i++) await harness.callLlm({ model: 'zero', prompt });
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
await viaHarness(callsPerRound);
const rawUs: number[] = [];
const harnessUs: number[] = [];
const ratios: number[] = [];
for (let r = 0; r < rounds; r++) {
  const a = await time(raw);
  const b = await time(viaHarness);
  rawUs.push(a);
  harnessUs.push(b);
  ratios.push(b / a);
  process.stderr.write(
    `round ${r + 1}/${rounds}: raw ${a.toFixed(1)} µs, harness ${b.toFixed(1)} µs, ratio ${(b / a).toFixed(3)}\n`,
  );
}
const rawMedian = median(rawUs);
const harnessMedian = median(harnessUs);
const result = {
  bench: 'overhead',
  raw_us: Number(rawMedian.toFixed(2)),
  harness_us: Number(harnessMedian.toFixed(2)),
  us_added: Number((harnessMedian - rawMedian).toFixed(2)),
  ratio: Number(median(ratios).toFixed(3)),
  rounds,
  calls_per_round: callsPerRound,
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
};
console.log(JSON.stringify(result));
