/**
 * `RecursionPolicy`: how deep sub-agents may go and what happens when a step's result is not
 * good enough: `trigger_on` conditions (parsed here, evaluated by the council executor after
 * every agent step) and the fallback (ReAsk, Escalate, BestSoFar, Fail). See docs/recursion.md.
 */
import { z } from 'zod';
import { HarnessError } from '../errors.ts';
import type { RecursionFallback, RecursionPolicySpec } from './spec.ts';
import { parseTrigger, type Trigger } from './trigger-expr.ts';

const schema = z.strictObject({
  maxDepth: z.int().nonnegative().max(32).default(3),
  triggerOn: z.array(z.string().min(1)).default([]),
  fallback: z.enum(['ReAsk', 'Escalate', 'BestSoFar', 'Fail']).default('BestSoFar'),
});

export type RecursionPolicyOptions = Partial<RecursionPolicySpec>;

function parseAt(source: string, index: number): Trigger {
  try {
    return parseTrigger(source);
  } catch (error) {
    if (!HarnessError.isInstance(error) || error.code !== 'trigger_invalid') throw error;
    const path = `RecursionPolicy.triggerOn[${index}]`;
    throw new HarnessError('trigger_invalid', `${path}: ${error.message}`, {
      cause: error,
      location: { path },
      hint: error.hint,
      details: { ...error.details, index },
    });
  }
}

/**
 * When an agent may spawn sub-agents (`maxDepth`), which step results are not good enough
 * (`triggerOn`, in the grammar of `trigger-expr.ts`) and what happens then (`fallback`).
 */
export class RecursionPolicy implements RecursionPolicySpec {
  readonly maxDepth: number;
  readonly triggerOn: string[];
  readonly fallback: RecursionFallback;
  /** `triggerOn`, parsed: one {@link Trigger} per entry, in the same order. */
  readonly triggers: readonly Trigger[];

  /**
   * Defaults: `maxDepth` 3, no triggers, fallback `BestSoFar`. Invalid options throw
   * `config_invalid`; a `triggerOn` entry that does not parse throws `trigger_invalid` located
   * at `RecursionPolicy.triggerOn[i]`, its message naming the column in the expression.
   */
  constructor(options: RecursionPolicyOptions = {}) {
    const parsed = schema.safeParse(options);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path.join('.') ?? '';
      throw new HarnessError('config_invalid', `RecursionPolicy.${field}: ${issue?.message ?? 'invalid'}`, {
        location: { path: `RecursionPolicy.${field}` },
        hint: 'maxDepth is a whole number 0..32; fallback is one of ReAsk, Escalate, BestSoFar, Fail',
      });
    }
    this.maxDepth = parsed.data.maxDepth;
    this.triggerOn = parsed.data.triggerOn;
    this.fallback = parsed.data.fallback;
    this.triggers = Object.freeze(this.triggerOn.map(parseAt));
  }

  toJSON(): RecursionPolicySpec {
    return { maxDepth: this.maxDepth, triggerOn: [...this.triggerOn], fallback: this.fallback };
  }
}
