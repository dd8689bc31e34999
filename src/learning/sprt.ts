/**
 * Sequential tests: decisions taken after every sample, as soon as the evidence is enough.
 *
 * - Wald's sequential probability ratio test (1945) against a known baseline:
 *   {@link bernoulliSprt} for a rate, {@link gaussianSprt} for a mean. A clear departure is
 *   caught after a handful of samples; `alpha` and `beta` bound both kinds of mistake.
 * - Two arms, both estimated from their own samples (a canary: stable against candidate):
 *   {@link compareArms} judges each metric's difference by always-valid confidence sequences
 *   from the mixture SPRT ({@link confidenceRadius}), which stay valid however often they are
 *   looked at, so a canary may decide after every call without its error rates creeping up.
 *
 * Everything here is pure: sufficient statistics in (counts, sums), a decision out. The
 * canary controller (`canary.ts`) keeps the statistics in SQLite and asks {@link compareArms}
 * after each recorded outcome.
 */
import { HarnessError } from '../errors.ts';

/** Error probabilities and sample bounds of a sequential test. */
export interface SequentialTestOptions {
  /** Probability of accepting H1 when H0 holds (a false alarm), in (0, 1); default 0.05. */
  alpha?: number;
  /** Probability of accepting H0 when H1 holds (a miss), in (0, 1); default 0.1. */
  beta?: number;
  /** No decision before this many samples (the estimates of the baseline settle first); default 20. */
  minSamples?: number;
  /**
   * Truncation: at this many samples a test that is still undecided decides by the sign of its
   * log-likelihood ratio (H1 when it is above 0); default 10 000.
   */
  maxSamples?: number;
}

/** The defaults of {@link SequentialTestOptions}. */
export const defaultSequentialTest: Readonly<Required<SequentialTestOptions>> = {
  alpha: 0.05,
  beta: 0.1,
  minSamples: 20,
  maxSamples: 10_000,
};

/** `accept-h0` and `accept-h1` are final; `continue` asks for more samples. */
export type SequentialDecision = 'continue' | 'accept-h0' | 'accept-h1';

/** Where a sequential test stands. */
export interface SequentialResult {
  decision: SequentialDecision;
  /** ln(L(H1) / L(H0)) over the samples so far. */
  llr: number;
  /** ln(beta / (1 - alpha)): at or below it H0 is accepted. */
  lower: number;
  /** ln((1 - beta) / alpha): at or above it H1 is accepted. */
  upper: number;
  samples: number;
  /** True when the decision was forced by `maxSamples` rather than reached by a bound. */
  truncated: boolean;
}

/** Wald's stopping bounds for `alpha` and `beta` (`lower` < 0 < `upper`). */
export function sprtBounds(alpha: number, beta: number): { lower: number; upper: number } {
  return { lower: Math.log(beta / (1 - alpha)), upper: Math.log((1 - beta) / alpha) };
}

/**
 * Checks and completes test options; a bad value is `config_invalid` naming `where.<option>`
 * (e.g. `CanaryController.test.alpha`).
 */
export function resolveSequentialOptions(
  options: SequentialTestOptions = {},
  where = 'SequentialTestOptions',
): Required<SequentialTestOptions> {
  const o = { ...defaultSequentialTest, ...definedOnly(options) };
  probability(o.alpha, `${where}.alpha`);
  probability(o.beta, `${where}.beta`);
  if (o.alpha + o.beta >= 1) {
    throw invalid(`${where}.alpha`, `alpha + beta must be below 1 (got ${o.alpha} + ${o.beta})`);
  }
  if (!Number.isInteger(o.minSamples) || o.minSamples < 1) {
    throw invalid(`${where}.minSamples`, `minSamples must be a positive integer (got ${o.minSamples})`);
  }
  if (
    !(Number.isInteger(o.maxSamples) || o.maxSamples === Number.POSITIVE_INFINITY) ||
    o.maxSamples < o.minSamples
  ) {
    throw invalid(
      `${where}.maxSamples`,
      `maxSamples must be an integer at least minSamples (${o.minSamples}); got ${o.maxSamples}`,
    );
  }
  return o;
}

/**
 * ln(L(p1) / L(p0)) of `events` in `trials` Bernoulli trials: `events·ln(p1/p0) +
 * (trials − events)·ln((1 − p1)/(1 − p0))`. Both rates in (0, 1).
 */
export function bernoulliLlr(events: number, trials: number, p0: number, p1: number): number {
  return events * Math.log(p1 / p0) + (trials - events) * Math.log((1 - p1) / (1 - p0));
}

/**
 * Wald's SPRT on a Bernoulli rate (an error rate): H0 `p = p0` against H1 `p = p1`, either
 * direction (`p1 > p0` tests for a rise, `p1 < p0` for a fall).
 */
export function bernoulliSprt(
  counts: { events: number; trials: number },
  hypotheses: { p0: number; p1: number },
  options: SequentialTestOptions = {},
): SequentialResult {
  const o = resolveSequentialOptions(options);
  const { p0, p1 } = hypotheses;
  probability(p0, 'bernoulliSprt.p0');
  probability(p1, 'bernoulliSprt.p1');
  if (p0 === p1) throw invalid('bernoulliSprt.p1', 'p1 must differ from p0');
  if (!(counts.events >= 0 && counts.events <= counts.trials)) {
    throw invalid(
      'bernoulliSprt.events',
      `events must be within 0..trials (got ${counts.events}/${counts.trials})`,
    );
  }
  return decide(bernoulliLlr(counts.events, counts.trials, p0, p1), counts.trials, o);
}

/**
 * ln(L(mu1) / L(mu0)) of `n` normal samples with total `sum` and known `sigma`:
 * `(mu1 − mu0)/sigma² · (sum − n·(mu0 + mu1)/2)`.
 */
export function gaussianLlr(n: number, sum: number, mu0: number, mu1: number, sigma: number): number {
  return ((mu1 - mu0) / (sigma * sigma)) * (sum - (n * (mu0 + mu1)) / 2);
}

/**
 * Wald's SPRT on the mean of normal samples with known spread (a latency in log-space, a
 * score): H0 `mean = mu0` against H1 `mean = mu1`, either direction.
 */
export function gaussianSprt(
  stats: { n: number; sum: number },
  hypotheses: { mu0: number; mu1: number; sigma: number },
  options: SequentialTestOptions = {},
): SequentialResult {
  const o = resolveSequentialOptions(options);
  const { mu0, mu1, sigma } = hypotheses;
  if (!(sigma > 0) || !Number.isFinite(sigma))
    throw invalid('gaussianSprt.sigma', `sigma must be > 0 (got ${sigma})`);
  if (mu0 === mu1 || !Number.isFinite(mu0) || !Number.isFinite(mu1)) {
    throw invalid('gaussianSprt.mu1', `mu1 must be a finite number other than mu0 (got ${mu0} and ${mu1})`);
  }
  return decide(gaussianLlr(stats.n, stats.sum, mu0, mu1, sigma), stats.n, o);
}

function decide(llr: number, samples: number, o: Required<SequentialTestOptions>): SequentialResult {
  const { lower, upper } = sprtBounds(o.alpha, o.beta);
  const base = { llr, lower, upper, samples };
  if (samples < o.minSamples) return { ...base, decision: 'continue', truncated: false };
  if (llr >= upper) return { ...base, decision: 'accept-h1', truncated: false };
  if (llr <= lower) return { ...base, decision: 'accept-h0', truncated: false };
  if (samples >= o.maxSamples)
    return { ...base, decision: llr > 0 ? 'accept-h1' : 'accept-h0', truncated: true };
  return { ...base, decision: 'continue', truncated: false };
}

// ---------------------------------------------------------------------------------------------
// Two arms: a stable version and a candidate, both estimated from their own samples.

/**
 * Half-width of the always-valid confidence sequence for a mean (or a difference of means)
 * whose estimate has variance `variance`, from the mixture SPRT with a normal mixing
 * distribution of spread `tau` (Robbins 1970; Johari et al., "Always valid inference", 2017):
 * `sqrt(V(V + tau²)/tau² · (ln((V + tau²)/V) + 2·ln(1/level)))`. The true value lies outside
 * `estimate ± radius` at *any* sample count with probability at most `level`, however often it
 * is looked at, which is what lets a canary decide after every call.
 */
export function confidenceRadius(variance: number, tau: number, level: number): number {
  if (!(variance > 0)) return 0;
  const t2 = tau * tau;
  return Math.sqrt(
    ((variance * (variance + t2)) / t2) * (Math.log((variance + t2) / variance) + 2 * Math.log(1 / level)),
  );
}

/** A difference between the arms, oriented so that positive is worse for the candidate. */
export interface DifferenceEstimate {
  /** Candidate minus stable (error rate, mean ln latency) or stable minus candidate (mean score). */
  diff: number;
  /** Variance of `diff`: the sampling noise of both arms. */
  variance: number;
}

/** What a difference shows so far. */
export interface DifferenceResult {
  /** `worse`: certainly above `worseAbove`; `good`: certainly below `goodBelow`. */
  decision: 'continue' | 'worse' | 'good';
  diff: number;
  /** Lower end of the (1 − alpha) confidence sequence: above `worseAbove` means worse. */
  lower: number;
  /** Upper end of the (1 − beta) confidence sequence: below `goodBelow` means good. */
  upper: number;
  worseAbove: number;
  goodBelow: number;
  /** True when the decision was forced by `maxSamples` (by the estimate against the midpoint). */
  truncated: boolean;
}

/**
 * The sequential decision on one difference: `worse` once the (1 − alpha) confidence sequence
 * lies above `worseAbove` (so a candidate that is not worse is called worse with probability at
 * most alpha), `good` once the (1 − beta) one lies below `goodBelow` (a candidate that is in fact
 * beyond it is called good with probability at most beta), checked in that order. With `force`,
 * an undecided difference is decided by the estimate against the midpoint of the two thresholds.
 */
export function compareDifference(
  estimate: DifferenceEstimate,
  thresholds: { worseAbove: number; goodBelow: number; tau: number },
  options: { alpha: number; beta: number; force?: boolean },
): DifferenceResult {
  const { diff, variance } = estimate;
  const { worseAbove, goodBelow, tau } = thresholds;
  const lower = diff - confidenceRadius(variance, tau, options.alpha);
  const upper = diff + confidenceRadius(variance, tau, options.beta);
  const base = { diff, lower, upper, worseAbove, goodBelow };
  if (lower > worseAbove) return { ...base, decision: 'worse', truncated: false };
  if (upper < goodBelow) return { ...base, decision: 'good', truncated: false };
  if (options.force) {
    return { ...base, decision: diff > (worseAbove + goodBelow) / 2 ? 'worse' : 'good', truncated: true };
  }
  return { ...base, decision: 'continue', truncated: false };
}

/** Count, sum and sum of squares of a sample: enough for its mean and variance. */
export interface MomentStats {
  n: number;
  sum: number;
  sumSq: number;
}

/** What a canary knows of one version. */
export interface ArmStats {
  /** Calls that ended, ok or not. */
  calls: number;
  /** Calls that failed. */
  errors: number;
  /** ln(latency in ms) of successful calls, each latency at least `latencyFloorMs`. */
  latency: MomentStats;
  /** Scores (0..1) reported for the version's calls. */
  score: MomentStats;
}

/** How one call of a version ended. */
export interface CanaryOutcome {
  ok: boolean;
  /** Wall time of the call, ms; counted for successful calls only (a fast failure is no speed-up). */
  latencyMs?: number;
  /** A quality score of the answer, 0..1 (an evaluator's, a user's). */
  score?: number;
}

/** What a canary must show before it is promoted. */
export type CanaryGoal =
  /** The candidate must be no worse than the stable version (a new version, a new model). */
  | 'no-regression'
  /** The candidate must fail clearly less often than the stable version (a patch for a failure). */
  | 'fewer-errors';

/**
 * How a canary compares its two versions; every field has a default. `alpha` bounds the chance
 * of rolling back a candidate that is not worse; `beta` the chance of promoting one that is
 * worse by a margin or more (for `fewer-errors`: of promoting a patch that heals nothing).
 */
export interface CanaryTestOptions extends SequentialTestOptions {
  /** Default `no-regression`. */
  goal?: CanaryGoal;
  /**
   * `no-regression`: the rise in error rate the candidate must be shown to stay below before it
   * is promoted, absolute (default 0.05: 5 points).
   */
  errorMargin?: number;
  /**
   * `fewer-errors`: the share of the stable version's failures the candidate must remove
   * (default 0.5: a patch that does not halve the error rate is rolled back).
   */
  errorReduction?: number;
  /**
   * An error rate's variance is taken as at least that of this rate, so a version without a
   * failure yet is not taken as one that can never fail (default 0.01).
   */
  minErrorRate?: number;
  /** The slow-down the candidate must be shown to stay below, relative (default 0.25: 25 % slower). */
  latencyMargin?: number;
  /** Latencies below this count as this, so jitter of a few ms on fast calls is no slow-down (default 25 ms). */
  latencyFloorMs?: number;
  /** The drop in mean score the candidate must be shown to stay below, absolute on 0..1 (default 0.1). */
  scoreMargin?: number;
}

/** The defaults of {@link CanaryTestOptions}. */
export const defaultCanaryTest: Readonly<Required<CanaryTestOptions>> = {
  ...defaultSequentialTest,
  goal: 'no-regression',
  errorMargin: 0.05,
  errorReduction: 0.5,
  minErrorRate: 0.01,
  latencyMargin: 0.25,
  latencyFloorMs: 25,
  scoreMargin: 0.1,
};

/**
 * The spread assumed at least for ln(latency): ±20 %, the jitter of ordinary calls. Without a
 * floor, a stable version whose latencies all sit at the floor would have a spread of 0 and one
 * slightly slower candidate call would count as proof.
 */
const latencySigmaFloor = 0.2;
/** The spread assumed at least for scores on 0..1. */
const scoreSigmaFloor = 0.1;
/** Samples each arm needs before latency or score is compared (a spread needs two). */
const momentMinSamples = 3;

/** A canary's verdict after the latest outcome. */
export interface CanaryVerdict {
  decision: 'continue' | 'promote' | 'rollback';
  /** Why, in numbers (rates, bounds); for events and `forge explain`. */
  reason: string;
  /** Each comparison that applied. */
  tests: { errors?: DifferenceResult; latency?: DifferenceResult; score?: DifferenceResult };
}

/** An arm with nothing recorded. */
export function emptyArmStats(): ArmStats {
  return { calls: 0, errors: 0, latency: { n: 0, sum: 0, sumSq: 0 }, score: { n: 0, sum: 0, sumSq: 0 } };
}

/**
 * `stats` with one call's outcome added (a new object): the call, its failure, its latency when it
 * succeeded (log-space, at least `latencyFloorMs`) and its score when it has one. A score that
 * arrives later for a call already counted goes through {@link addScore}.
 */
export function addOutcome(
  stats: ArmStats,
  outcome: CanaryOutcome,
  latencyFloorMs = defaultCanaryTest.latencyFloorMs,
): ArmStats {
  const next: ArmStats = {
    calls: stats.calls + 1,
    errors: stats.errors + (outcome.ok ? 0 : 1),
    latency: stats.latency,
    score: stats.score,
  };
  if (outcome.ok && outcome.latencyMs !== undefined && Number.isFinite(outcome.latencyMs)) {
    next.latency = addMoment(stats.latency, Math.log(Math.max(outcome.latencyMs, latencyFloorMs, 1e-3)));
  }
  return outcome.score === undefined ? next : addScore(next, outcome.score);
}

/** `stats` with a score (clamped to 0..1) added for a call already counted. */
export function addScore(stats: ArmStats, score: number): ArmStats {
  if (!Number.isFinite(score)) return stats;
  return { ...stats, score: addMoment(stats.score, Math.min(1, Math.max(0, score))) };
}

function addMoment(m: MomentStats, x: number): MomentStats {
  return { n: m.n + 1, sum: m.sum + x, sumSq: m.sumSq + x * x };
}

/** Checks and completes canary test options (`config_invalid` naming `where.<option>`). */
export function resolveCanaryTest(
  options: CanaryTestOptions = {},
  where = 'CanaryTestOptions',
): Required<CanaryTestOptions> {
  const o = { ...defaultCanaryTest, ...definedOnly(options) };
  resolveSequentialOptions(o, where);
  if (o.goal !== 'no-regression' && o.goal !== 'fewer-errors') {
    throw invalid(`${where}.goal`, `goal must be "no-regression" or "fewer-errors" (got ${String(o.goal)})`);
  }
  probability(o.errorMargin, `${where}.errorMargin`);
  probability(o.errorReduction, `${where}.errorReduction`);
  probability(o.minErrorRate, `${where}.minErrorRate`);
  if (o.minErrorRate >= 0.5) throw invalid(`${where}.minErrorRate`, 'minErrorRate must be below 0.5');
  positive(o.latencyMargin, `${where}.latencyMargin`);
  if (!(o.latencyFloorMs >= 0) || !Number.isFinite(o.latencyFloorMs)) {
    throw invalid(`${where}.latencyFloorMs`, `latencyFloorMs must be >= 0 (got ${o.latencyFloorMs})`);
  }
  probability(o.scoreMargin, `${where}.scoreMargin`);
  return o;
}

/**
 * Compares a candidate with the stable version it may replace: the heart of a canary. Each
 * metric is a difference between the arms with the sampling noise of both (normal
 * approximation), judged by {@link compareDifference}'s always-valid confidence sequences, so
 * the verdict may be asked after every call without inflating alpha or beta.
 *
 * - Nothing is decided before both arms have `minSamples` calls.
 * - Error rate. `no-regression`: rollback once the candidate's rate is certainly above the
 *   stable one's; promotable once it is certainly less than `errorMargin` above it.
 *   `fewer-errors`: promotable once the candidate's rate is certainly below the stable one's;
 *   rollback once it certainly does not remove `errorReduction` of the stable one's failures.
 * - Latency (successful calls, both arms with 3): the mean of ln(latency), so the margin is
 *   relative: rollback once certainly slower, promotable once certainly less than
 *   `latencyMargin` slower.
 * - Score (both arms with 3 scores): rollback once certainly lower, promotable once certainly
 *   less than `scoreMargin` lower.
 *
 * Rollback as soon as one metric says so; promotion once every metric that applies is
 * promotable. At `maxSamples` candidate calls every metric is forced to a decision.
 */
export function compareArms(
  stable: ArmStats,
  candidate: ArmStats,
  options: CanaryTestOptions = {},
): CanaryVerdict {
  const o = resolveCanaryTest(options);
  if (candidate.calls < o.minSamples || stable.calls < o.minSamples) {
    return {
      decision: 'continue',
      reason: `waiting for ${o.minSamples} calls per version (candidate ${candidate.calls}, stable ${stable.calls})`,
      tests: {},
    };
  }
  const levels = { alpha: o.alpha, beta: o.beta, force: candidate.calls >= o.maxSamples };
  const healing = o.goal === 'fewer-errors';

  // Smoothed rates (no rate of exactly 0 or 1 after a few calls), variance at least minErrorRate's.
  const rate = (arm: ArmStats) => (arm.errors + 0.5) / (arm.calls + 1);
  const floor = o.minErrorRate * (1 - o.minErrorRate);
  const rateVariance = (arm: ArmStats) => Math.max(rate(arm) * (1 - rate(arm)), floor) / arm.calls;
  const required = o.errorReduction * Math.max(rate(stable), o.minErrorRate);
  const errors = compareDifference(
    { diff: rate(candidate) - rate(stable), variance: rateVariance(candidate) + rateVariance(stable) },
    healing
      ? { worseAbove: -required, goodBelow: 0, tau: required }
      : { worseAbove: 0, goodBelow: o.errorMargin, tau: o.errorMargin },
    levels,
  );
  const tests: CanaryVerdict['tests'] = { errors };
  const latencyShift = Math.log(1 + o.latencyMargin);
  const latency = momentDifference(
    candidate.latency,
    stable.latency,
    latencySigmaFloor,
    latencyShift,
    levels,
  );
  if (latency) tests.latency = latency;
  // A score is better when higher: stable − candidate is positive when the candidate is worse.
  const score = momentDifference(stable.score, candidate.score, scoreSigmaFloor, o.scoreMargin, levels);
  if (score) tests.score = score;

  const rates = `error rate ${pct(candidate.errors, candidate.calls)} vs stable ${pct(stable.errors, stable.calls)}`;
  const interval = (r: DifferenceResult, unit: (x: number) => string) =>
    r.truncated
      ? `estimate ${unit(r.diff)} at the ${o.maxSamples}-call limit`
      : `${unit(r.lower)}..${unit(r.upper)}`;
  const points = (x: number) => `${x >= 0 ? '+' : ''}${fmt(x * 100)} pts`;
  const percent = (x: number) => `${x >= 0 ? '+' : ''}${fmt((Math.exp(x) - 1) * 100)}%`;
  const plain = (x: number) => fmt(x);

  if (errors.decision === 'worse') {
    return {
      decision: 'rollback',
      reason: healing
        ? `does not heal the failures: ${rates}, not ${fmt(o.errorReduction * 100)}% fewer (difference ${interval(errors, points)})`
        : `more errors: ${rates} (difference ${interval(errors, points)})`,
      tests,
    };
  }
  if (latency?.decision === 'worse') {
    return {
      decision: 'rollback',
      reason: `slower: ${ms(candidate.latency)} vs stable ${ms(stable.latency)} (difference ${interval(latency, percent)})`,
      tests,
    };
  }
  if (score?.decision === 'worse') {
    return {
      decision: 'rollback',
      reason: `lower scores: mean ${fmt(mean(candidate.score))} vs stable ${fmt(mean(stable.score))} (drop ${interval(score, plain)})`,
      tests,
    };
  }
  const good = (r: DifferenceResult | undefined) => r === undefined || r.decision === 'good';
  if (good(errors) && good(latency) && good(score)) {
    const parts = [
      `${rates} (difference ${interval(errors, points)})`,
      ...(latency ? [`latency ${ms(candidate.latency)} vs ${ms(stable.latency)}`] : []),
      ...(score ? [`score ${fmt(mean(candidate.score))} vs ${fmt(mean(stable.score))}`] : []),
    ];
    return {
      decision: 'promote',
      reason: `${healing ? 'heals the failures' : 'no regression'}: ${parts.join('; ')}`,
      tests,
    };
  }
  return { decision: 'continue', reason: `undecided: ${rates}`, tests };
}

/**
 * `worse − better` means of two samples judged against `margin` (worse once certainly above 0,
 * good once certainly below `margin`); undefined until both have enough samples.
 */
function momentDifference(
  worse: MomentStats,
  better: MomentStats,
  sigmaFloor: number,
  margin: number,
  levels: { alpha: number; beta: number; force: boolean },
): DifferenceResult | undefined {
  if (worse.n < momentMinSamples || better.n < momentMinSamples) return undefined;
  const variance = (m: MomentStats) =>
    Math.max(Math.max(0, m.sumSq - (m.sum * m.sum) / m.n) / (m.n - 1), sigmaFloor * sigmaFloor) / m.n;
  return compareDifference(
    { diff: mean(worse) - mean(better), variance: variance(worse) + variance(better) },
    { worseAbove: 0, goodBelow: margin, tau: margin },
    levels,
  );
}

function mean(m: MomentStats): number {
  return m.n === 0 ? Number.NaN : m.sum / m.n;
}

/** The geometric mean latency of a log-latency sample, e.g. `120ms`. */
function ms(m: MomentStats): string {
  return `${Math.round(Math.exp(mean(m)))}ms`;
}

function pct(events: number, trials: number): string {
  return `${fmt((events / trials) * 100)}% (${events}/${trials})`;
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(Math.abs(x) >= 10 ? 1 : 3).replace(/\.?0+$/, '');
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function probability(value: number, option: string): void {
  if (!(value > 0 && value < 1))
    throw invalid(option, `${option.split('.').pop()} must be in (0, 1) (got ${value})`);
}

function positive(value: number, option: string): void {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw invalid(option, `${option.split('.').pop()} must be a positive number (got ${value})`);
  }
}

function invalid(option: string, message: string): HarnessError {
  return new HarnessError('config_invalid', `${option}: ${message}`, {
    location: { path: option },
    hint: 'see docs/self-healing.md for the canary test options and their ranges',
    details: { option },
  });
}
