/**
 * Lexical recall shared by the embedded backends: both call {@link rankBm25}, so a query ranks the
 * same documents in the same order with the same scores whichever backend stores them.
 *
 * Why not SQLite's FTS5 `bm25()`: FTS5 tokenises with its own rules (unicode61 keeps a CJK run as one
 * token), computes IDF over the whole table rather than one namespace, and signs scores the other
 * way, so its ranking would drift from the in-memory one. Instead each backend loads the namespace's
 * documents with their precomputed term statistics and scores them here. That is a full scan per
 * query: fine up to roughly 10k documents per namespace; for larger corpora use vector recall
 * (`RecallOptions.embedding`, ranked by `vector.ts` or a backend's vector index).
 */

import type { RecallHit } from './store.ts';
import type { RecallFilter } from './validation.ts';

/** Term-frequency saturation of BM25 (the usual Lucene/Elastic default). */
export const BM25_K1 = 1.2;

/** Document-length normalisation of BM25 (the usual Lucene/Elastic default). */
export const BM25_B = 0.75;

// Han, Hiragana and Katakana are written without spaces, so each character is its own token
// (unigrams); every other script splits on anything that is not a letter, mark or number.
// Marks (\p{M}) continue a word so Devanagari vowel signs or combining accents do not split it.
const CJK = String.raw`\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}`;
const TOKEN = new RegExp(String.raw`[${CJK}]|[[\p{L}\p{N}]--[${CJK}]][[\p{L}\p{M}\p{N}]--[${CJK}]]*`, 'gv');

/**
 * Splits text into lower-cased word tokens: NFKC-normalised, runs of letters/numbers (with marks)
 * for spaced scripts, single characters for Han, Hiragana and Katakana. Punctuation, symbols and
 * emoji are not tokens.
 */
export function tokenize(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().match(TOKEN) ?? [];
}

/** The term statistics of one document, computed once when it is stored. */
export interface DocStats {
  /** Number of tokens. */
  length: number;
  /** Token → occurrences. A Map, because tokens such as `constructor` would collide with object keys. */
  tf: Map<string, number>;
}

/** Computes the term statistics of a text. */
export function documentStats(text: string): DocStats {
  const tokens = tokenize(text);
  const tf = new Map<string, number>();
  for (const token of tokens) tf.set(token, (tf.get(token) ?? 0) + 1);
  return { length: tokens.length, tf };
}

/** Serialises {@link DocStats} for storage (as `[length, [[term, count], ...]]`). */
export function statsToJson(stats: DocStats): string {
  return JSON.stringify([stats.length, [...stats.tf]]);
}

/** Reads what {@link statsToJson} wrote. */
export function statsFromJson(text: string): DocStats {
  const [length, entries] = JSON.parse(text) as [number, [string, number][]];
  return { length, tf: new Map(entries) };
}

/** A stored document with its statistics, as a backend hands it to {@link rankBm25}. */
export interface ScoredCandidate {
  id: string;
  text: string;
  meta?: Record<string, unknown>;
  stats: DocStats;
}

/** Options of {@link rankBm25}. */
export interface RankOptions {
  /** How many hits at most. */
  k: number;
  /** Only documents whose meta has all these values. */
  filter?: RecallFilter | undefined;
}

/**
 * Ranks a namespace's documents against a query with Okapi BM25 (k1 = 1.2, b = 0.75, IDF
 * `ln(1 + (N − n + 0.5) / (n + 0.5))`, which is always positive). Corpus statistics (N, average
 * length, document frequencies) cover every candidate; the filter then limits which are returned,
 * so a document's score does not depend on the filter. Repeated query terms count once. Only
 * documents sharing a term with the query score > 0 and are returned; ties go to the smaller id so
 * every backend returns the same order.
 *
 * @param candidates every document of the namespace.
 */
export function rankBm25(
  candidates: readonly ScoredCandidate[],
  query: string,
  options: RankOptions,
): RecallHit[] {
  const terms = [...new Set(tokenize(query))];
  if (terms.length === 0 || candidates.length === 0) return [];
  const count = candidates.length;
  let totalLength = 0;
  const df = new Map<string, number>(terms.map((term) => [term, 0]));
  for (const candidate of candidates) {
    totalLength += candidate.stats.length;
    for (const term of terms) {
      if (candidate.stats.tf.has(term)) df.set(term, (df.get(term) ?? 0) + 1);
    }
  }
  const averageLength = totalLength / count;
  const idf = terms.map((term) => {
    const n = df.get(term) ?? 0;
    return Math.log(1 + (count - n + 0.5) / (n + 0.5));
  });
  const scored: { candidate: ScoredCandidate; score: number }[] = [];
  for (const candidate of candidates) {
    if (options.filter !== undefined && !matchesFilter(candidate.meta, options.filter)) continue;
    const norm = BM25_K1 * (1 - BM25_B + (BM25_B * candidate.stats.length) / averageLength);
    let score = 0;
    terms.forEach((term, index) => {
      const tf = candidate.stats.tf.get(term);
      if (tf !== undefined) score += (idf[index] ?? 0) * ((tf * (BM25_K1 + 1)) / (tf + norm));
    });
    if (score > 0) scored.push({ candidate, score });
  }
  scored.sort((a, b) => b.score - a.score || compareIds(a.candidate.id, b.candidate.id));
  return scored.slice(0, options.k).map(({ candidate, score }) => ({
    id: candidate.id,
    text: candidate.text,
    ...(candidate.meta === undefined ? {} : { meta: candidate.meta }),
    score,
  }));
}

/** True when `meta` has every filter entry with the identical value. */
export function matchesFilter(meta: Record<string, unknown> | undefined, filter: RecallFilter): boolean {
  for (const [name, value] of Object.entries(filter)) {
    if (meta === undefined || !Object.hasOwn(meta, name) || meta[name] !== value) return false;
  }
  return true;
}

// Code-unit order, not localeCompare, so the tie-break does not depend on the process locale.
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
