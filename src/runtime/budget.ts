/**
 * One budget for a whole run tree: the run, its agents and every sub-agent they spawn share
 * the same usage totals and limits. `check()` runs before every model call; a limit that is
 * reached ends the run with a typed `limit_exceeded` error naming the limit, the usage and the
 * partial output — never a silent stop.
 */
import { z } from 'zod';
import { HarnessError } from '../errors.ts';
import type { Usage } from './events.ts';

/** Limits of one run tree. Every field is optional; an absent field is no limit. */
export interface RunLimits {
  /** Input plus output tokens over all model calls. */
  tokens?: number;
  /** USD over all model calls, from the registry's prices. */
  costUsd?: number;
  /** Wall time from the run's start, milliseconds (a resumed run counts from its resume). */
  wallTimeMs?: number;
  /** Model calls that answered (failed attempts cost nothing we can see and are not counted). */
  modelCalls?: number;
  /** Sub-agent levels below the council's agents. */
  depth?: number;
}

export type LimitName = keyof RunLimits;

const limitsSchema = z.strictObject({
  tokens: z.int().positive().max(1e12).optional(),
  costUsd: z.number().positive().max(1e6).optional(),
  wallTimeMs: z
    .int()
    .positive()
    .max(30 * 24 * 3600_000)
    .optional(),
  modelCalls: z.int().positive().max(1e9).optional(),
  depth: z.int().nonnegative().max(32).optional(),
});

/** Validates limits given in code; `where` names the option (`RunOptions.limits`). */
export function parseLimits(limits: unknown, where: string): RunLimits {
  const parsed = limitsSchema.safeParse(limits ?? {});
  if (parsed.success) return parsed.data as RunLimits;
  const issue = parsed.error.issues[0];
  const field = issue?.path.join('.') ?? '';
  throw new HarnessError('config_invalid', `${where}.${field}: ${issue?.message ?? 'invalid'}`, {
    location: { path: `${where}.${field}` },
    hint: 'limits are positive numbers: tokens, costUsd, wallTimeMs, modelCalls (whole numbers) and depth 0..32',
  });
}

/** Merges council limits with run limits: the tighter of the two wins for each field. */
export function tighter(a: RunLimits | undefined, b: RunLimits | undefined): RunLimits {
  const out: RunLimits = { ...a };
  for (const [key, value] of Object.entries(b ?? {}) as Array<[LimitName, number | undefined]>) {
    if (value === undefined) continue;
    const mine = out[key];
    out[key] = mine === undefined ? value : Math.min(mine, value);
  }
  return out;
}

export class Budget {
  readonly limits: RunLimits;
  /** The run tree's totals; every model call of every agent and sub-agent is charged here. */
  readonly usage: Usage;
  readonly #startedAt: number;

  constructor(limits: RunLimits, usage: Usage, startedAt = Date.now()) {
    this.limits = limits;
    this.usage = usage;
    this.#startedAt = startedAt;
  }

  /** Milliseconds left before `wallTimeMs`, or undefined without that limit. */
  remainingMs(now = Date.now()): number | undefined {
    const wall = this.limits.wallTimeMs;
    return wall === undefined ? undefined : wall - (now - this.#startedAt);
  }

  /** Throws `limit_exceeded` when a usage limit is reached (before a model call). */
  check(partialOutput = ''): void {
    const { limits, usage } = this;
    const tokens = usage.inputTokens + usage.outputTokens;
    if (limits.tokens !== undefined && tokens >= limits.tokens) {
      throw this.exceeded('tokens', limits.tokens, tokens, partialOutput);
    }
    if (limits.costUsd !== undefined && usage.costUsd >= limits.costUsd) {
      throw this.exceeded('costUsd', limits.costUsd, usage.costUsd, partialOutput);
    }
    if (limits.modelCalls !== undefined && usage.modelCalls >= limits.modelCalls) {
      throw this.exceeded('modelCalls', limits.modelCalls, usage.modelCalls, partialOutput);
    }
    const left = this.remainingMs();
    if (left !== undefined && left <= 0) {
      throw this.exceeded(
        'wallTimeMs',
        this.limits.wallTimeMs ?? 0,
        Date.now() - this.#startedAt,
        partialOutput,
      );
    }
  }

  /** Throws `limit_exceeded` when a sub-agent at `depth` would be deeper than allowed. */
  checkDepth(depth: number, partialOutput = ''): void {
    if (this.limits.depth !== undefined && depth > this.limits.depth) {
      throw this.exceeded('depth', this.limits.depth, depth, partialOutput);
    }
  }

  /** The typed error that ends a run on a limit. */
  exceeded(limit: LimitName, limitValue: number, used: number, partialOutput: string): HarnessError {
    return new HarnessError(
      'limit_exceeded',
      `the run reached its ${limit} limit (${format(limit, limitValue)}; used ${format(limit, used)})`,
      {
        hint: `raise limits.${limit} for this run or council, or make the council do less`,
        details: { scope: 'run', limit, limitValue, used, usage: { ...this.usage }, partialOutput },
      },
    );
  }
}

function format(limit: LimitName, value: number): string {
  if (limit === 'costUsd') return `$${value.toFixed(4)}`;
  if (limit === 'wallTimeMs') return `${Math.round(value)} ms`;
  return String(value);
}

/** True for a limit of the whole run (from the budget), as opposed to one agent's own limits. */
export function isRunLimit(error: HarnessError): boolean {
  return error.code === 'limit_exceeded' && error.details.scope === 'run';
}
