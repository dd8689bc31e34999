import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  documentStats,
  rankBm25,
  type ScoredCandidate,
  statsFromJson,
  statsToJson,
  tokenize,
} from './bm25.ts';

const candidate = (id: string, text: string, meta?: Record<string, unknown>): ScoredCandidate => ({
  id,
  text,
  ...(meta === undefined ? {} : { meta }),
  stats: documentStats(text),
});

describe('tokenize', () => {
  it('lower-cases words of any script and drops punctuation, symbols and emoji', () => {
    expect(tokenize('Hello, WÖRLD! 42x 🎉 — ok?')).toEqual(['hello', 'wörld', '42x', 'ok']);
    expect(tokenize('مرحبا بالعالم')).toEqual(['مرحبا', 'بالعالم']);
    expect(tokenize('Привет мир')).toEqual(['привет', 'мир']);
  });

  it('splits Han, Hiragana and Katakana into single characters', () => {
    expect(tokenize('東京タワー abc東京')).toEqual(['東', '京', 'タ', 'ワ', 'ー', 'abc', '東', '京']);
  });

  it('keeps combining marks inside words and normalises compatibility forms', () => {
    expect(tokenize('हिन्दी')).toEqual(['हिन्दी']);
    expect(tokenize('cafe\u0301')).toEqual(['café']);
    expect(tokenize('ＡＢＣ１２')).toEqual(['abc12']);
  });
});

describe('rankBm25', () => {
  it('scores with Okapi BM25 (k1 = 1.2, b = 0.75)', () => {
    const docs = [candidate('a', 'a b'), candidate('b', 'a c c')];
    // N = 2, n(c) = 1 → idf = ln(2); avgdl = 2.5; dl(b) = 3 → norm = 1.2 · (0.25 + 0.75 · 3 / 2.5) = 1.38.
    const expected = Math.log(2) * ((2 * 2.2) / (2 + 1.38));
    const hits = rankBm25(docs, 'c', { k: 5 });
    expect(hits).toHaveLength(1);
    expect(hits[0]?.id).toBe('b');
    expect(hits[0]?.score).toBeCloseTo(expected, 12);
  });

  it('ranks rarer terms and denser documents higher and counts a repeated query term once', () => {
    const docs = [
      candidate('common', 'the cat and the dog'),
      candidate('rare', 'the axolotl'),
      candidate('dense', 'cat cat cat'),
    ];
    expect(rankBm25(docs, 'cat', { k: 5 }).map((hit) => hit.id)).toEqual(['dense', 'common']);
    expect(rankBm25(docs, 'the axolotl', { k: 5 })[0]?.id).toBe('rare');
    expect(rankBm25(docs, 'cat cat cat', { k: 5 })).toEqual(rankBm25(docs, 'cat', { k: 5 }));
  });

  it('returns nothing for an empty query or corpus, and only documents sharing a term', () => {
    expect(rankBm25([candidate('a', 'words here')], '!!!', { k: 5 })).toEqual([]);
    expect(rankBm25([], 'words', { k: 5 })).toEqual([]);
    expect(
      rankBm25([candidate('a', 'words'), candidate('b', '')], 'words', { k: 5 }).map((h) => h.id),
    ).toEqual(['a']);
  });

  it('treats tokens like "constructor" and "__proto__" as plain words', () => {
    const docs = [candidate('a', 'constructor __proto__ toString'), candidate('b', 'nothing')];
    expect(rankBm25(docs, 'constructor', { k: 5 }).map((hit) => hit.id)).toEqual(['a']);
    expect(rankBm25(docs, 'tostring', { k: 5 }).map((hit) => hit.id)).toEqual(['a']);
    expect(statsFromJson(statsToJson(docs[0]!.stats))).toEqual(docs[0]!.stats);
  });

  it('filters by meta without changing scores', () => {
    const docs = [
      candidate('a', 'x y', { kind: 'faq' }),
      candidate('b', 'x', { kind: 'note' }),
      candidate('c', 'x'),
    ];
    const all = rankBm25(docs, 'x', { k: 5 });
    const faq = rankBm25(docs, 'x', { k: 5, filter: { kind: 'faq' } });
    expect(faq.map((hit) => hit.id)).toEqual(['a']);
    expect(faq[0]?.score).toBe(all.find((hit) => hit.id === 'a')?.score);
  });

  it('is sorted, positive, at most k, and independent of candidate order (fixed seed)', () => {
    const word = fc.constantFrom('alpha', 'beta', 'gamma', 'delta', 'epsilon', '東', 'ß');
    const doc = fc.record({
      id: fc.string({ minLength: 1, maxLength: 4 }),
      words: fc.array(word, { maxLength: 12 }),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(doc, { selector: (d) => d.id, maxLength: 15 }),
        fc.array(word, { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 6 }),
        (docs, query, k) => {
          const candidates = docs.map((d) => candidate(d.id, d.words.join(' ')));
          const hits = rankBm25(candidates, query.join(' '), { k });
          expect(hits.length).toBeLessThanOrEqual(k);
          for (const hit of hits) expect(hit.score).toBeGreaterThan(0);
          for (let i = 1; i < hits.length; i++)
            expect(hits[i - 1]!.score).toBeGreaterThanOrEqual(hits[i]!.score);
          expect(rankBm25([...candidates].reverse(), query.join(' '), { k })).toEqual(hits);
        },
      ),
      { seed: 20_240_601, numRuns: 300 },
    );
  });
});
