import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { thrown } from '../../test/harness-errors.ts';
import {
  checkDimension,
  checkEmbedding,
  cosineSimilarity,
  fromFloat32Bytes,
  rankByCosine,
  toFloat32Bytes,
  type VectorCandidate,
} from './vector.ts';

describe('checkEmbedding', () => {
  it('returns a number[] copy of an array or typed array', () => {
    const input = [0.5, -1, 2];
    const copy = checkEmbedding(input, 'v');
    expect(copy).toEqual([0.5, -1, 2]);
    input[0] = 9;
    expect(copy[0]).toBe(0.5);
    expect(checkEmbedding(new Float32Array([1, 0.25]), 'v')).toEqual([1, 0.25]);
  });

  it('names the vector, the index and the problem', () => {
    const nan = thrown(() => checkEmbedding([1, Number.NaN], 'embedding of memory document "d"'));
    expect(nan.code).toBe('memory_error');
    expect(nan.message).toBe(
      'embedding of memory document "d" has NaN at index 1; every value must be a finite number',
    );
    expect(nan.details).toEqual({ index: 1 });
    expect(thrown(() => checkEmbedding([Number.NEGATIVE_INFINITY], 'v')).message).toContain(
      '-Infinity at index 0',
    );
    expect(thrown(() => checkEmbedding([1, '2'], 'v')).message).toContain('a string at index 1');
    expect(thrown(() => checkEmbedding([], 'v')).message).toContain('empty');
    expect(thrown(() => checkEmbedding([0, 0, -0], 'v')).message).toContain('all zeros');
    expect(thrown(() => checkEmbedding('1,2', 'v')).message).toContain(
      'must be an array of numbers, got string',
    );
    expect(thrown(() => checkEmbedding(null, 'v')).message).toContain('got null');
    expect(thrown(() => checkEmbedding([1, undefined], 'v')).message).toContain('a undefined at index 1');
  });
});

describe('checkDimension', () => {
  it('passes when the namespace has no dimension yet or the lengths agree, names both otherwise', () => {
    expect(() => checkDimension(3, undefined, 'v')).not.toThrow();
    expect(() => checkDimension(3, 3, 'v')).not.toThrow();
    const error = thrown(() => checkDimension(5, 16, 'recall embedding'));
    expect(error.message).toBe(
      'recall embedding has 5 dimensions, but this memory namespace holds 16-dimensional embeddings',
    );
    expect(error.details).toEqual({ dimension: 16, length: 5 });
    expect(error.hint).toContain('nothing was written');
  });
});

describe('cosineSimilarity', () => {
  it('is 1 for the same direction, -1 for the opposite, 0 for orthogonal, scale-free', () => {
    expect(cosineSimilarity([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(cosineSimilarity([1, 2], [-1, -2])).toBeCloseTo(-1, 12);
    expect(cosineSimilarity([1, 0], [0, 5])).toBe(0);
    expect(cosineSimilarity([3, 4], [4, 3])).toBeCloseTo(24 / 25, 12);
    expect(cosineSimilarity([0, 0], [1, 1])).toBe(0);
  });
});

describe('rankByCosine', () => {
  const docs: (VectorCandidate & { text: string })[] = [
    { id: 'b', embedding: [1, 0], meta: { kind: 'x' }, text: 'b' },
    { id: 'a', embedding: [1, 0], meta: { kind: 'y' }, text: 'a' },
    { id: 'c', embedding: [0, 1], meta: { kind: 'x' }, text: 'c' },
    { id: 'd', embedding: [-1, 0.1], text: 'd' },
    { id: 'wrong-length', embedding: [1, 0, 0], text: 'w' },
  ];

  it('ranks best first, ties by id, keeps every candidate with no cut-off, skips other lengths', () => {
    const hits = rankByCosine(docs, [1, 0.001], { k: 10 });
    expect(hits.map((hit) => hit.candidate.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(hits[3]?.score).toBeLessThan(0);
    expect(hits[0]?.candidate.text).toBe('a');
  });

  it('keeps k and applies the filter as lexical recall does', () => {
    expect(rankByCosine(docs, [1, 0], { k: 1 }).map((hit) => hit.candidate.id)).toEqual(['a']);
    expect(
      rankByCosine(docs, [1, 0], { k: 5, filter: { kind: 'x' } }).map((hit) => hit.candidate.id),
    ).toEqual(['b', 'c']);
    expect(rankByCosine(docs, [1, 0], { k: 5, filter: { missing: 1 } })).toEqual([]);
  });

  it('consumes a stream once', () => {
    let pulled = 0;
    function* stream(): Generator<VectorCandidate> {
      for (const doc of docs) {
        pulled++;
        yield doc;
      }
    }
    expect(rankByCosine(stream(), [0, 1], { k: 2 }).map((hit) => hit.candidate.id)).toEqual(['c', 'd']);
    expect(pulled).toBe(docs.length);
  });

  it('equals sorting every candidate (property, fixed seed)', () => {
    const vector = fc.array(fc.integer({ min: -8, max: 8 }), { minLength: 4, maxLength: 4 });
    fc.assert(
      fc.property(
        fc.array(fc.record({ id: fc.string({ minLength: 1, maxLength: 3 }), embedding: vector }), {
          maxLength: 40,
        }),
        vector,
        fc.integer({ min: 1, max: 12 }),
        (candidates, query, k) => {
          const unique = [...new Map(candidates.map((c) => [c.id, c])).values()];
          const expected = unique
            .map((candidate) => ({ id: candidate.id, score: cosineSimilarity(candidate.embedding, query) }))
            .sort((x, y) => y.score - x.score || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
            .slice(0, k);
          const actual = rankByCosine(unique, query, { k }).map((hit) => ({
            id: hit.candidate.id,
            score: hit.score,
          }));
          expect(actual).toEqual(expected);
        },
      ),
      { seed: 20_240_611, numRuns: 300 },
    );
  });
});

describe('float32 bytes', () => {
  it('round-trips float32 values exactly and rounds others to float32, little-endian', () => {
    const exact = [1, -0.5, 0.125, 3.75, -1024];
    expect(fromFloat32Bytes(toFloat32Bytes(exact))).toEqual(exact);
    expect(fromFloat32Bytes(toFloat32Bytes([0.1]))).toEqual([Math.fround(0.1)]);
    expect([...toFloat32Bytes([1])]).toEqual([0, 0, 0x80, 0x3f]);
    // A view at an odd offset of a bigger buffer, as a driver may hand back.
    const buffer = new Uint8Array(9);
    buffer.set(toFloat32Bytes([2, -3]), 1);
    expect(fromFloat32Bytes(buffer.subarray(1))).toEqual([2, -3]);
  });
});
