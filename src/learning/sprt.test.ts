import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { seededRandom } from './canary.ts';
import {
  type ArmStats,
  addOutcome,
  addScore,
  bernoulliLlr,
  bernoulliSprt,
  type CanaryTestOptions,
  compareArms,
  compareDifference,
  confidenceRadius,
  emptyArmStats,
  gaussianSprt,
  resolveCanaryTest,
  type SequentialResult,
  sprtBounds,
} from './sprt.ts';

const SEED = 20261126;

/** Runs `step` (one more sample → result) until it decides; the decision and the samples used. */
function runUntilDecided(step: (n: number) => SequentialResult, limit: number) {
  for (let n = 1; n <= limit; n++) {
    const result = step(n);
    if (result.decision !== 'continue') return { decision: result.decision, samples: n };
  }
  return { decision: 'continue' as const, samples: limit };
}

/** Kullback–Leibler divergence of Bernoulli(p) from Bernoulli(q): the per-sample drift of the llr under p. */
const kl = (p: number, q: number) => p * Math.log(p / q) + (1 - p) * Math.log((1 - p) / (1 - q));

describe('Wald SPRT', () => {
  it('has the bounds ln(β/(1−α)) and ln((1−β)/α)', () => {
    const { lower, upper } = sprtBounds(0.05, 0.1);
    expect(lower).toBeCloseTo(Math.log(0.1 / 0.95));
    expect(upper).toBeCloseTo(Math.log(0.9 / 0.05));
  });

  it('sums the Bernoulli log-likelihood ratio from counts', () => {
    expect(bernoulliLlr(3, 10, 0.1, 0.3)).toBeCloseTo(3 * Math.log(3) + 7 * Math.log(0.7 / 0.9));
  });

  it('waits for minSamples, then stops at a bound; at maxSamples it decides by the sign of the llr', () => {
    const hyp = { p0: 0.1, p1: 0.5 };
    expect(bernoulliSprt({ events: 5, trials: 5 }, hyp, { minSamples: 10 }).decision).toBe('continue');
    expect(bernoulliSprt({ events: 5, trials: 10 }, hyp, { minSamples: 10 }).decision).toBe('accept-h1');
    expect(bernoulliSprt({ events: 0, trials: 10 }, hyp, { minSamples: 10 }).decision).toBe('accept-h0');
    // 2 in 10: between the bounds (llr ≈ 0.02 > 0) …
    const open = bernoulliSprt({ events: 2, trials: 10 }, { p0: 0.1, p1: 0.3 }, { minSamples: 1 });
    expect(open.decision).toBe('continue');
    // … and forced at the limit.
    const forced = bernoulliSprt(
      { events: 2, trials: 10 },
      { p0: 0.1, p1: 0.3 },
      { minSamples: 1, maxSamples: 10 },
    );
    expect(forced).toMatchObject({ decision: open.llr > 0 ? 'accept-h1' : 'accept-h0', truncated: true });
  });

  it('tests a fall as well as a rise (p1 < p0)', () => {
    expect(bernoulliSprt({ events: 0, trials: 30 }, { p0: 0.5, p1: 0.2 }, { minSamples: 1 }).decision).toBe(
      'accept-h1',
    );
    expect(bernoulliSprt({ events: 15, trials: 30 }, { p0: 0.5, p1: 0.2 }, { minSamples: 1 }).decision).toBe(
      'accept-h0',
    );
  });

  it('refuses options out of range with config_invalid naming the option', () => {
    const bad = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        expect(HarnessError.isInstance(error)).toBe(true);
        return error as HarnessError;
      }
      throw new Error('expected a throw');
    };
    expect(
      bad(() => bernoulliSprt({ events: 0, trials: 1 }, { p0: 0.1, p1: 0.2 }, { alpha: 1 })).location?.path,
    ).toBe('SequentialTestOptions.alpha');
    expect(bad(() => bernoulliSprt({ events: 0, trials: 1 }, { p0: 0.1, p1: 0.1 })).code).toBe(
      'config_invalid',
    );
    expect(bad(() => gaussianSprt({ n: 1, sum: 0 }, { mu0: 0, mu1: 1, sigma: 0 })).message).toMatch(/sigma/);
    expect(bad(() => resolveCanaryTest({ minSamples: 10, maxSamples: 5 }, 'X')).location?.path).toBe(
      'X.maxSamples',
    );
    expect(bad(() => resolveCanaryTest({ alpha: 0.6, beta: 0.5 }, 'X')).message).toMatch(/alpha \+ beta/);
    expect(bad(() => resolveCanaryTest({ goal: 'faster' as never }, 'X')).location?.path).toBe('X.goal');
  });

  it('Bernoulli, property: under H0 it rarely accepts H1; under H1 it accepts H1 within a bounded number of samples', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.02, max: 0.3, noNaN: true }),
        fc.double({ min: 0.08, max: 0.25, noNaN: true }),
        fc.integer(),
        (p0, gap, seed) => {
          const p1 = p0 + gap;
          const random = seededRandom(seed);
          const options = { alpha: 0.05, beta: 0.1, minSamples: 1, maxSamples: 100_000 };
          const sequences = 150;
          // Wald's approximation of the mean sample number under H1.
          const { lower, upper } = sprtBounds(options.alpha, options.beta);
          const asn = (0.9 * upper + 0.1 * lower) / kl(p1, p0);
          const run = (p: number) => {
            let events = 0;
            return runUntilDecided((n) => {
              if (random() < p) events++;
              return bernoulliSprt({ events, trials: n }, { p0, p1 }, options);
            }, options.maxSamples);
          };
          const underH0 = Array.from({ length: sequences }, () => run(p0));
          const underH1 = Array.from({ length: sequences }, () => run(p1));
          // α' ≤ α/(1−β) ≈ 0.056: 150 sequences average 8 false alarms; 20 is far in the tail.
          expect(underH0.filter((r) => r.decision === 'accept-h1').length).toBeLessThanOrEqual(20);
          expect(underH0.every((r) => r.decision !== 'continue')).toBe(true);
          // β' ≤ β/(1−α) ≈ 0.105: at least 80 % found; and found quickly.
          expect(underH1.filter((r) => r.decision === 'accept-h1').length).toBeGreaterThanOrEqual(120);
          const samples = underH1.map((r) => r.samples).sort((a, b) => a - b);
          const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
          expect(mean).toBeLessThanOrEqual(1.5 * asn + 5);
          expect(samples[Math.floor(samples.length * 0.95)]).toBeLessThanOrEqual(4 * asn + 10);
        },
      ),
      { seed: SEED, numRuns: 25 },
    );
  });

  it('Gaussian, property: under H0 it rarely accepts H1; a shift of one margin is found within a bounded number of samples', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -5, max: 5, noNaN: true }),
        fc.double({ min: 0.1, max: 2, noNaN: true }),
        fc.double({ min: 0.3, max: 1.5, noNaN: true }),
        fc.integer(),
        (mu0, sigma, shiftInSigmas, seed) => {
          const mu1 = mu0 + shiftInSigmas * sigma;
          const random = seededRandom(seed);
          // Box–Muller on the seeded generator.
          const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
          const options = { alpha: 0.05, beta: 0.1, minSamples: 1, maxSamples: 100_000 };
          const { lower, upper } = sprtBounds(options.alpha, options.beta);
          const asn = (0.9 * upper + 0.1 * lower) / (shiftInSigmas ** 2 / 2);
          const run = (mean: number) => {
            let sum = 0;
            return runUntilDecided((n) => {
              sum += mean + sigma * normal();
              return gaussianSprt({ n, sum }, { mu0, mu1, sigma }, options);
            }, options.maxSamples);
          };
          const underH0 = Array.from({ length: 150 }, () => run(mu0));
          const underH1 = Array.from({ length: 150 }, () => run(mu1));
          expect(underH0.filter((r) => r.decision === 'accept-h1').length).toBeLessThanOrEqual(20);
          expect(underH1.filter((r) => r.decision === 'accept-h1').length).toBeGreaterThanOrEqual(120);
          const samples = underH1.map((r) => r.samples).sort((a, b) => a - b);
          expect(samples[Math.floor(samples.length * 0.95)]).toBeLessThanOrEqual(4 * asn + 10);
        },
      ),
      { seed: SEED + 1, numRuns: 25 },
    );
  });
});

describe('confidence sequences', () => {
  it('narrow as the variance falls and widen as the level tightens', () => {
    expect(confidenceRadius(0.01, 0.1, 0.05)).toBeGreaterThan(confidenceRadius(0.001, 0.1, 0.05));
    expect(confidenceRadius(0.01, 0.1, 0.01)).toBeGreaterThan(confidenceRadius(0.01, 0.1, 0.05));
    expect(confidenceRadius(0, 0.1, 0.05)).toBe(0);
  });

  it('call a difference worse above its lower bound, good below its upper bound, worse first', () => {
    const t = { worseAbove: 0, goodBelow: 0.05, tau: 0.05 };
    const levels = { alpha: 0.05, beta: 0.1 };
    expect(compareDifference({ diff: 0.3, variance: 1e-4 }, t, levels).decision).toBe('worse');
    expect(compareDifference({ diff: 0, variance: 1e-5 }, t, levels).decision).toBe('good');
    expect(compareDifference({ diff: 0.02, variance: 1e-2 }, t, levels).decision).toBe('continue');
    expect(compareDifference({ diff: 0.03, variance: 1e-2 }, t, { ...levels, force: true })).toMatchObject({
      decision: 'worse',
      truncated: true,
    });
  });
});

/** Simulates a canary: each call goes to the candidate with probability `share`. */
function simulateCanary(
  random: () => number,
  arms: { stable: ArmModel; candidate: ArmModel },
  share: number,
  options: CanaryTestOptions,
  limit = 50_000,
) {
  let stable = emptyArmStats();
  let candidate = emptyArmStats();
  for (let i = 0; i < limit; i++) {
    const toCandidate = random() < share;
    const model = toCandidate ? arms.candidate : arms.stable;
    const latencyMs = model.latencyMs * Math.exp(0.3 * (random() + random() + random() - 1.5));
    const outcome = { ok: random() >= model.errorRate, latencyMs };
    if (toCandidate) candidate = addOutcome(candidate, outcome);
    else stable = addOutcome(stable, outcome);
    const verdict = compareArms(stable, candidate, options);
    if (verdict.decision !== 'continue') return { ...verdict, candidateCalls: candidate.calls };
  }
  return { decision: 'continue' as const, reason: '', candidateCalls: candidate.calls };
}

interface ArmModel {
  errorRate: number;
  latencyMs: number;
}

describe('compareArms', () => {
  it('waits for minSamples calls on both arms', () => {
    const arm = (calls: number, errors: number): ArmStats => ({ ...emptyArmStats(), calls, errors });
    expect(compareArms(arm(19, 0), arm(50, 50)).decision).toBe('continue');
    expect(compareArms(arm(20, 0), arm(20, 20)).decision).toBe('rollback');
  });

  it('says why, in numbers', () => {
    let stable = emptyArmStats();
    let candidate = emptyArmStats();
    for (let i = 0; i < 40; i++) {
      stable = addOutcome(stable, { ok: true, latencyMs: 100 });
      candidate = addOutcome(candidate, { ok: i % 2 === 0, latencyMs: 100 });
    }
    const verdict = compareArms(stable, candidate);
    expect(verdict.decision).toBe('rollback');
    expect(verdict.reason).toMatch(
      /^more errors: error rate 50% \(20\/40\) vs stable 0% \(0\/40\) \(difference \+/,
    );
  });

  it('counts latency of successful calls only, at least latencyFloorMs, and scores within 0..1', () => {
    let arm = addOutcome(emptyArmStats(), { ok: false, latencyMs: 1 });
    arm = addOutcome(arm, { ok: true, latencyMs: 3 });
    arm = addOutcome(arm, { ok: true, latencyMs: 400, score: 2 });
    arm = addScore(arm, -1);
    expect(arm).toMatchObject({ calls: 3, errors: 1, latency: { n: 2 }, score: { n: 2, sum: 1 } });
    expect(arm.latency.sum).toBeCloseTo(Math.log(25) + Math.log(400));
  });

  it('rolls back a candidate with lower scores', () => {
    let stable = emptyArmStats();
    let candidate = emptyArmStats();
    for (let i = 0; i < 40; i++) {
      stable = addOutcome(stable, { ok: true, latencyMs: 100, score: 0.9 });
      candidate = addOutcome(candidate, { ok: true, latencyMs: 100, score: 0.5 });
    }
    expect(compareArms(stable, candidate)).toMatchObject({ decision: 'rollback', reason: /^lower scores/ });
  });

  it('property: a candidate as good as the stable version is rarely rolled back, and is promoted in the end', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0, 0.01, 0.05, 0.1),
        fc.constantFrom(0.1, 0.5),
        fc.integer(),
        (errorRate, share, seed) => {
          const random = seededRandom(seed);
          const same = { errorRate, latencyMs: 200 };
          const verdicts = Array.from({ length: 30 }, () =>
            simulateCanary(random, { stable: same, candidate: same }, share, { maxSamples: 2000 }),
          );
          // alpha = 0.05: 30 canaries average at most 1.5 wrong rollbacks.
          expect(verdicts.filter((v) => v.decision === 'rollback').length).toBeLessThanOrEqual(6);
          expect(verdicts.every((v) => v.decision !== 'continue')).toBe(true);
        },
      ),
      { seed: SEED + 2, numRuns: 10 },
    );
  });

  it('property: a clear regression (errors, or latency) is rolled back within a bounded number of candidate calls', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 0.2, noNaN: true }),
        fc.constantFrom(0.1, 0.3, 0.5),
        fc.constantFrom('errors', 'latency'),
        fc.integer(),
        (errorRate, share, kind, seed) => {
          const random = seededRandom(seed);
          const stable = { errorRate, latencyMs: 200 };
          const candidate =
            kind === 'errors'
              ? { errorRate: errorRate + 0.4, latencyMs: 200 }
              : { errorRate, latencyMs: 500 };
          for (let i = 0; i < 10; i++) {
            const verdict = simulateCanary(random, { stable, candidate }, share, {});
            expect(verdict.decision).toBe('rollback');
            expect(verdict.candidateCalls).toBeLessThanOrEqual(150);
          }
        },
      ),
      { seed: SEED + 3, numRuns: 30 },
    );
  });

  it('property (fewer-errors): a patch that heals is promoted, one that does not is rolled back', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.4, max: 1, noNaN: true }), fc.integer(), (brokenRate, seed) => {
        const random = seededRandom(seed);
        const options: CanaryTestOptions = { goal: 'fewer-errors', minSamples: 10 };
        const stable = { errorRate: brokenRate, latencyMs: 50 };
        for (let i = 0; i < 10; i++) {
          const healed = simulateCanary(
            random,
            { stable, candidate: { errorRate: 0, latencyMs: 50 } },
            0.5,
            options,
          );
          expect(healed).toMatchObject({ decision: 'promote', reason: /^heals the failures/ });
          expect(healed.candidateCalls).toBeLessThanOrEqual(100);
        }
        const same = Array.from({ length: 10 }, () =>
          simulateCanary(random, { stable, candidate: stable }, 0.5, options),
        );
        expect(same.filter((v) => v.decision === 'rollback').length).toBeGreaterThanOrEqual(8);
        expect(same.find((v) => v.decision === 'rollback')?.reason).toMatch(/^does not heal the failures/);
      }),
      { seed: SEED + 4, numRuns: 20 },
    );
  });
});
