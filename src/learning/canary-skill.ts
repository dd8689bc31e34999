/**
 * `canarySkill`: two versions of one skill behind one name. Each call goes to the stable or the
 * candidate version as the {@link CanaryController} routes it (by the call's idempotency key by
 * default, so a re-executed step gets the version it had), its outcome is recorded, and once the
 * sequential test decides, every call gets the winner. The decision reaches the run as a
 * `canary-decision` event of the call that settled it.
 */
import { HarnessError, toHarnessError } from '../errors.ts';
import type { AnySkill, SkillContext } from '../runtime/skill.ts';
import { type CanaryController, type CanaryDecision, defaultCanaryController } from './canary.ts';
import type { CanaryTestOptions } from './sprt.ts';

/** Options of {@link canarySkill}. */
export interface CanarySkillOptions {
  /** The version in service; its name, description and schemas are what the model sees. */
  stable: AnySkill;
  /** The version on trial: the same name, another version, an input schema that accepts the same input. */
  candidate: AnySkill;
  /** Share of calls routed to the candidate while the canary runs, (0, 1]; default 0.1. */
  share?: number;
  /** Where the canary's state lives (default: `defaultCanaryController()`, `$FORGE_CANARY_URL` or `.forge/canary.db`). */
  controller?: CanaryController;
  /** The canary's name in the state file (default `skill:<name>`). */
  subject?: string;
  /** Test options of this canary, over the controller's. */
  test?: CanaryTestOptions;
  /**
   * The routing key of a call (the same key, the same version); default the call's idempotency
   * key. Return undefined to route that call at random.
   */
  key?: (input: unknown, context: SkillContext) => string | undefined;
}

/** A skill that is a canary of two versions. */
export interface CanarySkill extends AnySkill {
  /** The canary's name in the state file. */
  readonly subject: string;
  readonly controller: CanaryController;
}

/**
 * Two versions of a skill as one: each call routed, its outcome (ok or error, latency) recorded,
 * the canary promoted or rolled back by the sequential test (see docs/self-healing.md).
 * `version` is the version calls get outside the split (the stable one until a promotion).
 */
export function canarySkill(options: CanarySkillOptions): CanarySkill {
  const { stable, candidate } = options;
  if (candidate.name !== stable.name) {
    throw new HarnessError(
      'config_invalid',
      `canarySkill: candidate "${candidate.name}" and stable "${stable.name}" are different skills`,
      {
        location: { path: 'canarySkill.candidate.name' },
        hint: 'a canary compares two versions of one skill: give both the same name and different versions',
      },
    );
  }
  const controller = options.controller ?? defaultCanaryController();
  const subject = options.subject ?? `skill:${stable.name}`;
  // Validates the versions and the share, and joins a canary already in the file.
  let active = controller.start(subject, {
    stable: stable.version,
    candidate: candidate.version,
    ...(options.share === undefined ? {} : { share: options.share }),
    ...(options.test === undefined ? {} : { test: options.test }),
  }).active;
  const keyOf = options.key ?? ((_input: unknown, context: SkillContext) => context.idempotencyKey);
  const emit = (context: SkillContext, decision: CanaryDecision | undefined) => {
    active = reportDecision(context, subject, decision) ?? active;
  };
  return {
    name: stable.name,
    description: stable.description,
    inputSchema: stable.inputSchema,
    ...(stable.outputSchema === undefined ? {} : { outputSchema: stable.outputSchema }),
    subject,
    controller,
    get version() {
      return active;
    },
    async run(input: never, context: SkillContext): Promise<unknown> {
      const route = controller.route(subject, keyOf(input, context));
      // Another controller on the same file (another process) may have decided meanwhile.
      if (route.status !== 'running') active = route.version;
      const skill = route.version === candidate.version ? candidate : stable;
      const started = Date.now();
      let output: unknown;
      try {
        output = await skill.run(input, context);
      } catch (error) {
        if (countsAsFailure(error, context.signal)) {
          emit(context, controller.record(subject, route.version, { ok: false }));
        }
        throw error;
      }
      emit(context, controller.record(subject, route.version, { ok: true, latencyMs: Date.now() - started }));
      return output;
    },
  };
}

/**
 * Reports a canary's decision into the run the skill call belongs to (a `canary-decision` event)
 * and returns the version that is active from now on, or undefined when nothing was decided.
 */
export function reportDecision(
  context: SkillContext,
  subject: string,
  decision: CanaryDecision | undefined,
): string | undefined {
  if (!decision) return undefined;
  context.emit?.({
    type: 'canary-decision',
    subject,
    decision: decision.decision,
    stable: decision.stable,
    candidate: decision.candidate,
    reason: decision.reason,
  });
  return decision.decision === 'promote' ? decision.candidate : decision.stable;
}

/**
 * An abort or a run limit says nothing about the version that was running: neither is recorded
 * as its failure.
 */
export function countsAsFailure(error: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return false;
  const code = toHarnessError(error, 'skill_failed').code;
  return code !== 'aborted' && code !== 'limit_exceeded';
}
