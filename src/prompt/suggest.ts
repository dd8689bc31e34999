/**
 * A small "did you mean" helper for prompt errors. It is kept local to `src/prompt` on purpose:
 * the shared `src/config/did-you-mean.ts` is being written in parallel, and the prompt parser
 * must not wait on it. Fold the two together once both exist.
 */

/**
 * Edit distance between two strings, compared by UTF-16 code unit: insertions, deletions,
 * substitutions and swaps of two adjacent characters each cost 1 (optimal string alignment),
 * so the common `valeu` → `value` typo is one edit. O(a·b) time; only meant for identifiers.
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (beforePrevious[j - 2] ?? 0) + 1);
      }
      current[j] = best;
    }
    beforePrevious = previous;
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/**
 * The candidate closest to `word`, or `undefined` when none is close enough to be a likely typo.
 * Case is ignored (`User` → `user`). "Close enough" is a distance of at most a third of the
 * longer word, and at least 1, so `usr` → `user` and `tool-call` → `tool_call` match while
 * `foo` → `user` does not.
 */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  const needle = word.toLowerCase();
  // Identifiers are short; skipping long inputs keeps a pasted paragraph from costing O(n²).
  if (needle.length === 0 || needle.length > 64) return undefined;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(needle, candidate.toLowerCase());
    const allowed = Math.max(1, Math.floor(Math.max(needle.length, candidate.length) / 3));
    if (distance <= allowed && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
