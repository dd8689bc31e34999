// Event-loop pacing through the public API (ADR 0008): a burst of runs, or a tight loop of model
// calls that never waits on I/O, leaves room for timers between its turns; `loopSliceMs: 0` turns
// pacing off, and then the same work holds the loop until it ends.
import type { LanguageModelV4 } from '@ai-sdk/provider';
import { Harness, registerProviderType } from 'forge-harness';
import { afterEach, describe, expect, it } from 'vitest';

/** A model that answers at once (a resolved promise: no I/O, no timer). */
const instant: LanguageModelV4 = {
  specificationVersion: 'v4',
  provider: 'pacing',
  modelId: 'instant',
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
  doStream: async () => ({
    stream: new ReadableStream({
      start(controller) {
        controller.enqueue({ type: 'stream-start', warnings: [] });
        controller.enqueue({ type: 'text-start', id: 't' });
        controller.enqueue({ type: 'text-delta', id: 't', delta: 'ok' });
        controller.enqueue({ type: 'text-end', id: 't' });
        controller.enqueue({
          type: 'finish',
          finishReason: { unified: 'stop', raw: 'stop' },
          usage: {
            inputTokens: { total: 3, noCache: 3, cacheRead: 0, cacheWrite: 0 },
            outputTokens: { total: 1, text: 1, reasoning: 0 },
          },
        });
        controller.close();
      },
    }),
  }),
};
registerProviderType('pacing-instant', { create: () => instant });

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.stop()));
});

function harness(loopSliceMs?: number): Harness {
  const h = new Harness({
    models: [{ id: 'instant', type: 'pacing-instant', rateLimits: { maxConcurrency: 10_000 } }],
    councils: [{ name: 'C', agents: [{ name: 'A', model: 'instant', instructions: 'Answer.' }] }],
    memory: 'memory://',
    journal: false,
    scheduler: {
      maxConcurrentRuns: 10_000,
      ...(loopSliceMs === undefined ? {} : { loopSliceMs }),
    },
  });
  harnesses.push(h);
  return h;
}

/** Runs `work` and reports how many timer ticks (setTimeout 0, re-armed) got in while it ran. */
async function ticksDuring(work: () => Promise<unknown>): Promise<number> {
  let ticks = 0;
  let stop = false;
  const tick = () => {
    if (stop) return;
    ticks++;
    setTimeout(tick, 0);
  };
  setTimeout(tick, 0);
  await work();
  stop = true;
  return ticks;
}

describe('event-loop pacing', () => {
  it('lets timers run between the calls of a tight callLlm loop', async () => {
    const h = harness();
    const loop = async () => {
      for (let i = 0; i < 3000; i++) await h.callLlm({ model: 'instant', prompt: 'hi' });
    };
    await loop(); // warm-up
    const paced = await ticksDuring(loop);
    expect(paced).toBeGreaterThan(0);
    expect(h.scheduler.stats().loop.parked).toBeGreaterThan(0);

    const unpaced = harness(0);
    const loopOff = async () => {
      for (let i = 0; i < 3000; i++) await unpaced.callLlm({ model: 'instant', prompt: 'hi' });
    };
    expect(await ticksDuring(loopOff)).toBe(0);
  });

  it('spreads a burst of runs over many turns, and every run succeeds', async () => {
    const h = harness();
    const burst = async (stream: boolean) => {
      const results = await Promise.all(
        Array.from({ length: 1500 }, () => h.run('C', 'hello', { stream }).result),
      );
      expect(results.filter((r) => r.status !== 'succeeded')).toEqual([]);
    };
    await burst(false); // warm-up
    for (const stream of [false, true]) {
      const parkedBefore = h.scheduler.stats().loop.parked;
      const ticks = await ticksDuring(() => burst(stream));
      expect(ticks).toBeGreaterThan(2);
      expect(h.scheduler.stats().loop.parked).toBeGreaterThan(parkedBefore);
    }
    expect(h.scheduler.stats().loop.waiting).toEqual({ continue: 0, start: 0 });
  });
});
