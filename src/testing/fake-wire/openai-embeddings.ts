/**
 * OpenAI embeddings (`POST /v1/embeddings`): deterministic unit vectors derived from a SHA-256 of
 * each input, so the same text always embeds to the same vector and different texts differ.
 */
import { createHash } from 'node:crypto';
import { estimateTokens, isRecord } from './common.ts';

/** Vector length when the request does not ask for `dimensions`. */
export const defaultEmbeddingDimensions = 64;

/** A unit-length vector of `dimensions` values in [-1, 1], a pure function of `text`. */
export function fakeEmbedding(text: string, dimensions = defaultEmbeddingDimensions): number[] {
  const values: number[] = [];
  for (let block = 0; values.length < dimensions; block++) {
    const digest = createHash('sha256').update(`${block}\u0000${text}`).digest();
    for (let i = 0; i + 1 < digest.length && values.length < dimensions; i += 2) {
      values.push(digest.readUInt16BE(i) / 32_767.5 - 1);
    }
  }
  const norm = Math.hypot(...values) || 1;
  return values.map((value) => value / norm);
}

/** The model and inputs of an embeddings request. Token-array inputs embed their JSON text. */
export function parseEmbeddingsRequest(body: unknown): {
  model: string | undefined;
  inputs: string[];
  dimensions: number;
} {
  const record = isRecord(body) ? body : {};
  const raw = record.input;
  const list: unknown[] = Array.isArray(raw) && raw.every((item) => typeof item !== 'number') ? raw : [raw];
  const dimensions =
    typeof record.dimensions === 'number' && Number.isInteger(record.dimensions) && record.dimensions > 0
      ? Math.min(record.dimensions, 8192)
      : defaultEmbeddingDimensions;
  return {
    model: typeof record.model === 'string' ? record.model : undefined,
    inputs: list.map((item) => (typeof item === 'string' ? item : JSON.stringify(item ?? ''))),
    dimensions,
  };
}

/** The embeddings response body in OpenAI's shape. */
export function embeddingsBody(body: unknown, modelFallback: string): unknown {
  const { model, inputs, dimensions } = parseEmbeddingsRequest(body);
  const tokens = inputs.reduce((sum, input) => sum + estimateTokens(input.length), 0);
  return {
    object: 'list',
    data: inputs.map((input, index) => ({
      object: 'embedding',
      index,
      embedding: fakeEmbedding(input, dimensions),
    })),
    model: model ?? modelFallback,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}
