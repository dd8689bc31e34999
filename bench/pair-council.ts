/**
 * The council and model of the `concurrency` and `journal` benchmarks: two agents in `parallel`
 * without a merge agent (2 model calls, a merge decision and 2 agent steps per run), on a model
 * that waits `latencyMs` on a timer (none at 0) and then streams a short answer in a few parts,
 * as a provider would.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LanguageModelV4, LanguageModelV4StreamPart, LanguageModelV4Usage } from '@ai-sdk/provider';
import { type CouncilSpec, type ModelEntry, registerProviderType } from 'forge-harness';

/** The run input. */
export const input = 'My order #1234 arrived damaged, I want a refund.';

const usage: LanguageModelV4Usage = {
  inputTokens: { total: 24, noCache: 24, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 6, text: 6, reasoning: 0 },
};
const words = ['We ', 'will ', 'refund ', 'the ', 'damaged ', 'order.'];

/** A model answering after `latencyMs` (a timer that honours the abort signal). */
export function pairModel(latencyMs: number): LanguageModelV4 {
  const wait = async (signal: AbortSignal | undefined) => {
    if (latencyMs > 0) await sleep(latencyMs, undefined, signal ? { signal } : {});
  };
  return {
    specificationVersion: 'v4',
    provider: 'bench-pair',
    modelId: `pair-${latencyMs}ms`,
    supportedUrls: {},
    doGenerate: async (options) => {
      await wait(options.abortSignal);
      return {
        content: [{ type: 'text', text: words.join('') }],
        finishReason: { unified: 'stop', raw: 'stop' },
        usage,
        warnings: [],
      };
    },
    doStream: async (options) => {
      await wait(options.abortSignal);
      return {
        stream: new ReadableStream<LanguageModelV4StreamPart>({
          start(controller) {
            controller.enqueue({ type: 'stream-start', warnings: [] });
            controller.enqueue({ type: 'text-start', id: 't0' });
            for (const delta of words) controller.enqueue({ type: 'text-delta', id: 't0', delta });
            controller.enqueue({ type: 'text-end', id: 't0' });
            controller.enqueue({ type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage });
            controller.close();
          },
        }),
      };
    },
  };
}

/**
 * Registers the provider type `bench-pair` and returns the registry entry of its model, which
 * may have `maxConcurrency` calls in flight (the call limiter's default is 64 per model).
 */
export function pairModelEntry(latencyMs: number, maxConcurrency: number): ModelEntry {
  const model = pairModel(latencyMs);
  registerProviderType('bench-pair', { create: () => model });
  return { id: 'pair', type: 'bench-pair', contextWindow: 128_000, rateLimits: { maxConcurrency } };
}

/** The council, named `pair`. */
export const pairCouncil: CouncilSpec = {
  name: 'pair',
  strategy: 'parallel',
  agents: [
    { name: 'Billing', model: 'pair', instructions: 'Answer from the billing side.' },
    { name: 'Shipping', model: 'pair', instructions: 'Answer from the shipping side.' },
  ],
};
