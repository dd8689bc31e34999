/**
 * Spelling suggestions for names a user typed: config keys, enum values, model ids, skills,
 * councils. One implementation so every "did you mean" in the harness behaves the same.
 */

/**
 * The optimal-string-alignment Damerau–Levenshtein distance: insertions, deletions,
 * substitutions and transpositions of two neighbouring characters each cost 1.
 * Case-sensitive; {@link didYouMean} lowercases before calling it.
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  // Three rolling rows (i-2, i-1, i) are enough for the transposition step.
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  let current = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, before[j - 2]! + 1);
      }
      current[j] = best;
    }
    [before, previous, current] = [previous, current, before];
  }
  return previous[b.length]!;
}

/**
 * Edits tolerated for an input of `length` characters: none beyond case for 1–2 characters
 * (one edit there changes half the word), then one per three characters, so `modle`→`model`
 * (1), `antropic`→`anthropic` (1 of 2) and `claude-sonnet`→`claude-3-5-sonnet` (4 of 4) match.
 */
function maxDistance(length: number): number {
  return length <= 2 ? 0 : Math.max(1, Math.floor(length / 3));
}

/**
 * The candidate closest to `input` (case-insensitive Damerau–Levenshtein), or `undefined`
 * when none is close enough for the input's length or `input` is itself a candidate.
 * Ties go to the candidate listed first, so callers control preference by order.
 *
 * @example didYouMean('modle', ['name', 'model']) // 'model'
 * @example didYouMean('nlu', ['NLU', 'Search']) // 'NLU'
 */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  if (candidates.includes(input)) return undefined;
  const needle = input.toLowerCase();
  const limit = maxDistance(needle.length);
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const hay = candidate.toLowerCase();
    // Length difference is a lower bound of the distance: skip the O(n·m) table.
    if (Math.abs(hay.length - needle.length) > Math.min(limit, bestDistance)) continue;
    const distance = editDistance(needle, hay);
    if (distance <= limit && distance < bestDistance && distance < Math.max(needle.length, hay.length)) {
      best = candidate;
      bestDistance = distance;
      if (distance === 0) break;
    }
  }
  return best;
}
