/**
 * The `simulated` provider's embedding model: deterministic feature hashing of words and
 * character trigrams into a fixed-size, L2-normalised vector. Texts that share words get close
 * vectors, so semantic recall behaves plausibly in tests and the demo with no model at all.
 */
import { createHash } from 'node:crypto';
import type { EmbeddingModelV4 } from '@ai-sdk/provider';

export interface SimulatedEmbeddingOptions {
  modelId: string;
  /** Vector length (default 256). */
  dimensions?: number;
}

/** Words too common to say anything about meaning. */
const stopWords = new Set(
  'a an and are as at be by do does for from get got have how i in is it me my of on or our so that the their them they this to was we were what when where which who will with you your'.split(
    ' ',
  ),
);

/** One deterministic vector for `text` (default 256 dimensions). */
export function simulatedEmbedding(text: string, dimensions = 256): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  const add = (feature: string, weight: number) => {
    const digest = createHash('sha256').update(feature).digest();
    const index = digest.readUInt32LE(0) % dimensions;
    const sign = (digest[4] ?? 0) & 1 ? 1 : -1;
    vector[index] = (vector[index] ?? 0) + sign * weight;
  };
  const words = (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => !stopWords.has(w));
  for (const word of words) {
    const stem = word.length > 4 ? word.replace(/(?:ing|ed|es|s)$/u, '') : word;
    add(`w:${stem}`, 1);
    const padded = `^${stem}$`;
    for (let i = 0; i + 3 <= padded.length; i++) add(`t:${padded.slice(i, i + 3)}`, 0.2);
  }
  const norm = Math.hypot(...vector);
  return norm === 0 ? vector : vector.map((v) => v / norm);
}

export function createSimulatedEmbeddingModel(options: SimulatedEmbeddingOptions): EmbeddingModelV4 {
  const dimensions = options.dimensions ?? 256;
  return {
    specificationVersion: 'v4',
    provider: 'simulated',
    modelId: options.modelId,
    maxEmbeddingsPerCall: 2048,
    supportsParallelCalls: true,
    async doEmbed({ values, abortSignal }) {
      abortSignal?.throwIfAborted();
      return {
        embeddings: values.map((v) => simulatedEmbedding(v, dimensions)),
        usage: { tokens: values.reduce((n, v) => n + Math.ceil(v.length / 4), 0) },
        warnings: [],
      };
    },
  };
}
