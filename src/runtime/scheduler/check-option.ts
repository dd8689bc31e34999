/** Checks one numeric scheduler option and names it exactly when it is wrong. */
import { HarnessError } from '../../errors.ts';

export interface NumberRule {
  /** Smallest allowed value. */
  min: number;
  /** `min` itself is not allowed (rates: 0 per minute would never refill). */
  exclusive?: boolean;
  /** Whole numbers only (counts); rates may be fractional. */
  integer?: boolean;
}

/**
 * Throws `config_invalid` located at `path` (a TS option path such as
 * `SchedulerOptions.councils.Support.maxConcurrentRuns`) unless `value` is absent or follows `rule`.
 */
export function checkOption(path: string, value: unknown, rule: NumberRule): void {
  if (value === undefined) return;
  const valid =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (rule.exclusive ? value > rule.min : value >= rule.min) &&
    (!rule.integer || Number.isInteger(value));
  if (valid) return;
  const what = `${rule.integer ? 'a whole number' : 'a number'} ${rule.exclusive ? '>' : '≥'} ${rule.min}`;
  throw new HarnessError(
    'config_invalid',
    `${path} must be ${what}, got ${JSON.stringify(value) ?? String(value)}`,
    {
      location: { path },
      hint: `set it to ${what}, or leave it out for the default`,
      details: { option: path, value },
    },
  );
}
