/**
 * Reading an agent's confidence in its answer, for `trigger_on` conditions such as
 * `confidence < 0.6`. Confidence is what the model says about itself; it is not calibrated,
 * so treat it as a hint that picks answers for a second look, not as a probability.
 *
 * @module
 */

/**
 * How an agent's confidence is read:
 * - `self_rating`: the agent's system prompt gets {@link selfRatingInstruction}, and the model
 *   ends its answer with a line `Confidence: 0.8`. The line is removed from the answer the
 *   caller sees. Works with any model, including ones without structured output.
 * - `structured`: the agent answers in JSON (its output schema has a numeric `confidence`
 *   field); the value is read from it and the answer is left as it is.
 *
 * (Confidence from ensemble agreement, the share of ensemble members that gave the winning
 * answer, is computed where the ensemble runs, not parsed from text.)
 */
export type ConfidenceSource = 'self_rating' | 'structured';

/** The text an agent's system prompt gets when its confidence is a `self_rating`. */
export const selfRatingInstruction =
  'After your answer, on a last line of its own, rate how confident you are that the answer is correct ' +
  'and complete, as a number from 0 (a guess) to 1 (certain), written exactly as `Confidence: 0.8`. ' +
  'Write nothing after that line.';

const number = String.raw`[-+]?(?:\d+(?:\.\d*)?|\.\d+)`;
/**
 * `Confidence: 0.8`, `confidence=0.8`, `CONFIDENCE: 80%`, also with markdown around it
 * (`**Confidence:** 0.8`, `- Confidence: 0.8.`), which models add unasked.
 */
const ratingLine = new RegExp(
  String.raw`^[\s>*_#-]*confidence[\s*_]*[:=][\s*_]*(${number})\s*(%?)[\s*_.]*$`,
  'i',
);

/** A rating as a fraction 0..1: `%` or a number above 1 is read as percent (so 80 and 80% are 0.8). */
function toFraction(value: number, percent: boolean): number {
  const fraction = percent || value > 1 ? value / 100 : value;
  return Math.min(1, Math.max(0, fraction));
}

function fromSelfRating(text: string): { output: string; confidence?: number } {
  const lines = text.trimEnd().split(/\r?\n/);
  const last = lines.at(-1) ?? '';
  const match = ratingLine.exec(last);
  if (match === null) return { output: text };
  const value = Number(match[1]);
  if (!Number.isFinite(value)) return { output: text };
  return { output: lines.slice(0, -1).join('\n').trimEnd(), confidence: toFraction(value, match[2] === '%') };
}

/** The JSON texts an answer may hold: the whole answer, then each fenced block (```json or ```). */
function jsonCandidates(text: string): string[] {
  const out = [text.trim()];
  // Every fence is matched with its closer whatever its language, so a ```ts block before the JSON is skipped whole.
  for (const fence of text.matchAll(/```([^\n`]*)\r?\n([\s\S]*?)```/g)) {
    const language = (fence[1] ?? '').trim().toLowerCase();
    if (language === '' || language === 'json') out.push((fence[2] ?? '').trim());
  }
  return out;
}

function fromStructured(text: string): { output: string; confidence?: number } {
  for (const candidate of jsonCandidates(text)) {
    if (!candidate.startsWith('{')) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(candidate);
    } catch {
      continue;
    }
    const value = (parsed as Record<string, unknown> | null)?.confidence;
    if (typeof value === 'number' && Number.isFinite(value)) {
      return { output: text, confidence: toFraction(value, false) };
    }
  }
  return { output: text };
}

/**
 * Reads the confidence of an answer.
 *
 * - `self_rating`: the last non-blank line `Confidence: 0.8` (also `80%`, `confidence=0.8`,
 *   any case, with markdown emphasis around it). Returns the answer without that line (and
 *   without trailing blank lines) and the value as a fraction clamped to 0..1, where `%` or a
 *   number above 1 means percent. Without such a line: the text unchanged, no confidence.
 * - `structured`: the answer is a JSON object, or holds one in a ```json (or plain ```)
 *   fence, with a numeric top-level `confidence` field: 0..1 as is, above 1 read as percent
 *   (0..100 → /100), clamped to 0..1. `output` is always the full text.
 *
 * @returns `confidence` is absent when the answer does not carry one; a `trigger_on`
 *   comparison with a missing confidence is false.
 */
export function extractConfidence(
  text: string,
  source: ConfidenceSource,
): { output: string; confidence?: number } {
  return source === 'self_rating' ? fromSelfRating(text) : fromStructured(text);
}
