/**
 * Vector recall shared by every backend that ranks by brute force (in-memory, SQLite without
 * `sqlite-vec`, LMDB, and any server backend without a vector index): one embedding check, one
 * cosine, one top-k, so every backend rejects the same vectors and ranks the same documents in the
 * same order with the same scores.
 */

import { matchesFilter } from './bm25.ts';
import type { RecallFilter } from './validation.ts';
import { memoryError } from './validation.ts';

/**
 * Checks a vector for `remember`, `recall` or `load`: an array of finite numbers, at least one, not
 * all zero (cosine similarity is undefined for a zero vector). Returns a fresh `number[]` copy, so a
 * caller changing its array afterwards does not change what was stored.
 *
 * @param what names the vector in the error, e.g. `embedding of memory document "faq-1"`.
 * @throws HarnessError `memory_error` naming `what`, the bad index and the problem.
 */
export function checkEmbedding(value: unknown, what: string): number[] {
  if (!Array.isArray(value) && !(ArrayBuffer.isView(value) && !(value instanceof DataView))) {
    throw memoryError(`${what} must be an array of numbers, got ${describeVector(value)}`, {
      hint: 'pass the vector your embedding model returned, e.g. [0.12, -0.4, ...]; nothing was written',
    });
  }
  const source = value as ArrayLike<unknown>;
  if (source.length === 0) {
    throw memoryError(`${what} is empty; a vector needs at least one number`, {
      hint: 'leave embedding out for a document recalled by its text only; nothing was written',
    });
  }
  const vector = new Array<number>(source.length);
  let zero = true;
  for (let index = 0; index < source.length; index++) {
    const item = source[index];
    if (typeof item !== 'number' || !Number.isFinite(item)) {
      throw memoryError(
        `${what} has ${typeof item === 'number' ? String(item) : `a ${typeof item}`} at index ${index}; every value must be a finite number`,
        {
          hint: 'check the embedding model output (NaN and Infinity are not valid); nothing was written',
          details: { index },
        },
      );
    }
    if (item !== 0) zero = false;
    vector[index] = item;
  }
  if (zero) {
    throw memoryError(`${what} is all zeros, which has no direction for cosine similarity`, {
      hint: 'check the embedding model output; nothing was written',
    });
  }
  return vector;
}

/**
 * Checks that a vector has the namespace's dimension (when the namespace has one yet).
 *
 * @param what names the vector, e.g. `embedding of memory document "faq-1"` or `recall embedding`.
 * @throws HarnessError `memory_error` naming both lengths.
 */
export function checkDimension(length: number, dimension: number | undefined, what: string): void {
  if (dimension === undefined || length === dimension) return;
  throw memoryError(
    `${what} has ${length} dimensions, but this memory namespace holds ${dimension}-dimensional embeddings`,
    {
      hint: `use the same embedding model for every document of a namespace (${dimension} dimensions), or store these in another namespace; nothing was written`,
      details: { dimension, length },
    },
  );
}

/**
 * Cosine similarity of two vectors of the same length, in [-1, 1], computed in float64.
 * Returns 0 when either has norm 0 (which {@link checkEmbedding} never lets in).
 */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let index = 0; index < a.length; index++) {
    const x = a[index] as number;
    const y = b[index] as number;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  if (normA === 0 || normB === 0) return 0;
  return dot / Math.sqrt(normA * normB);
}

/** A stored document as a backend hands it to {@link rankByCosine}. */
export interface VectorCandidate {
  id: string;
  embedding: ArrayLike<number>;
  /** Parsed meta; only read when a filter is given. */
  meta?: Record<string, unknown> | undefined;
}

/** Options of {@link rankByCosine}. */
export interface CosineRankOptions {
  /** How many hits at most (≥ 1). */
  k: number;
  /** Only candidates whose meta has all these values (compared with `===`, as lexical recall). */
  filter?: RecallFilter | undefined;
}

/** A candidate with its cosine similarity to the query. */
export interface CosineHit<T extends VectorCandidate> {
  candidate: T;
  score: number;
}

/**
 * Exact top-k by cosine similarity: best first, equal scores broken by id (code-unit order, as lexical
 * recall does). Consumes `candidates` once and keeps only the best `k`, so a backend can stream a large
 * namespace through it without holding it in memory. Candidates whose embedding length differs from
 * the query's are skipped (the dimension check belongs before the call).
 */
export function rankByCosine<T extends VectorCandidate>(
  candidates: Iterable<T>,
  query: ArrayLike<number>,
  options: CosineRankOptions,
): CosineHit<T>[] {
  const { k, filter } = options;
  // Sorted best first; a bounded insertion keeps the cost O(n·k) with k small (default 5).
  const best: CosineHit<T>[] = [];
  for (const candidate of candidates) {
    if (candidate.embedding.length !== query.length) continue;
    if (filter !== undefined && !matchesFilter(candidate.meta, filter)) continue;
    const hit = { candidate, score: cosineSimilarity(candidate.embedding, query) };
    if (best.length === k && compareHits(hit, best[k - 1] as CosineHit<T>) >= 0) continue;
    let at = best.length;
    while (at > 0 && compareHits(hit, best[at - 1] as CosineHit<T>) < 0) at--;
    best.splice(at, 0, hit);
    if (best.length > k) best.pop();
  }
  return best;
}

/** Orders hits best first: higher score, then smaller id. */
export function compareHits(a: CosineHit<VectorCandidate>, b: CosineHit<VectorCandidate>): number {
  if (a.score !== b.score) return b.score - a.score;
  const x = a.candidate.id;
  const y = b.candidate.id;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Encodes a vector as little-endian float32 bytes (4 bytes per value), the layout `sqlite-vec`,
 * pgvector's binary form and Redis vector fields use. Values are rounded to float32.
 */
export function toFloat32Bytes(vector: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(vector.length * 4);
  const view = new DataView(bytes.buffer);
  for (let index = 0; index < vector.length; index++)
    view.setFloat32(index * 4, vector[index] as number, true);
  return bytes;
}

/** Decodes what {@link toFloat32Bytes} wrote. */
export function fromFloat32Bytes(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const vector = new Array<number>(bytes.byteLength >> 2);
  for (let index = 0; index < vector.length; index++) vector[index] = view.getFloat32(index * 4, true);
  return vector;
}

function describeVector(value: unknown): string {
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : typeof value;
}
