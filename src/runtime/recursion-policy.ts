/**
 * `RecursionPolicy`: when an agent may spawn sub-agents and what happens when a step's result
 * is not good enough. This issue gives it a validated shape; the orchestration layer gives it
 * behaviour (depth checks, `trigger_on` evaluation, fallbacks).
 */
import { z } from 'zod';
import { HarnessError } from '../errors.ts';
import type { RecursionFallback, RecursionPolicySpec } from './spec.ts';

const schema = z.strictObject({
  maxDepth: z.int().nonnegative().max(32).default(3),
  triggerOn: z.array(z.string().min(1)).default([]),
  fallback: z.enum(['ReAsk', 'Escalate', 'BestSoFar', 'Fail']).default('BestSoFar'),
});

export type RecursionPolicyOptions = Partial<RecursionPolicySpec>;

export class RecursionPolicy implements RecursionPolicySpec {
  readonly maxDepth: number;
  readonly triggerOn: string[];
  readonly fallback: RecursionFallback;

  /** Defaults: `maxDepth` 3, no triggers, fallback `BestSoFar`. Invalid options throw `config_invalid`. */
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
  }

  toJSON(): RecursionPolicySpec {
    return { maxDepth: this.maxDepth, triggerOn: [...this.triggerOn], fallback: this.fallback };
  }
}
