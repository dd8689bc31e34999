/**
 * Self-patching skills (seed §5.3). A skill ships patches: newer implementations, each keyed by
 * the error signature it fixes (a `HarnessError` code and a message pattern). When the skill
 * fails with a matching signature, the patch is applied **as a canary**: from then on a share of
 * calls runs the patch, both versions' outcomes are recorded, and the sequential test of the
 * {@link CanaryController} keeps the patch (promotion: every call runs it) if it heals the
 * failures, or rolls it back (never applied again) if it does not. Decisions persist in the
 * controller's state file, so a restarted process runs the version that won.
 *
 * The format and the test are in docs/self-healing.md.
 */
import { HarnessError, type HarnessErrorCode, toHarnessError } from '../errors.ts';
import { type CanaryController, defaultCanaryController } from '../learning/canary.ts';
import { countsAsFailure, reportDecision } from '../learning/canary-skill.ts';
import type { CanaryTestOptions } from '../learning/sprt.ts';
import { type AnySkill, checkSkillOutput, type SkillContext } from '../runtime/skill.ts';

/** The failures a patch fixes. At least one field; every given field must match. */
export interface PatchSignature {
  /**
   * The failure's `HarnessError` code (`skill_failed`, `mcp_error`, ...); an error that is not a
   * `HarnessError` counts as `skill_failed`, as the agent loop reports it.
   */
  code?: HarnessErrorCode | (string & {});
  /** The failure's message: a RegExp it matches, or a string it contains. */
  message?: RegExp | string;
}

/** A newer implementation of a skill and the failures it fixes. */
export interface SkillPatch<I = unknown, O = unknown> {
  /** Its version: a semantic version above the skill's own (e.g. `1.0.1` for a `1.0.0` skill). */
  version: string;
  fixes: PatchSignature;
  /**
   * The patched implementation. A change of configuration is a `run` that calls the old code
   * with the new settings.
   */
  run: (input: I, context: SkillContext) => Promise<O> | O;
  /** What it fixes, for people (not used by the harness). */
  description?: string;
}

/** How patches are tried. */
export interface PatchingOptions {
  /** Where the canaries live (default: `defaultCanaryController()`, `$FORGE_CANARY_URL` or `.forge/canary.db`). */
  controller?: CanaryController;
  /** Share of calls a patch gets while it is on trial, (0, 1]; default 0.5. */
  share?: number;
  /**
   * The test a patch must pass; its goal is always `fewer-errors` (by default the patch must halve
   * the skill's error rate). Default: the controller's options.
   */
  test?: Omit<CanaryTestOptions, 'goal'>;
  /** The routing key of a call (default: its idempotency key); undefined routes that call at random. */
  key?: (input: unknown, context: SkillContext) => string | undefined;
}

/** The version each implementation answers to. */
interface Implementation {
  version: string;
  run: (input: never, context: SkillContext) => unknown;
}

/** The patch machinery around one skill's implementations (used by `Skill` and {@link withPatches}). */
export interface PatchedRun {
  /** The canary's name in the state file: `patch:<skill name>`. */
  readonly subject: string;
  /** The version calls get outside a trial, as last seen (the base version until a patch is promoted). */
  readonly activeVersion: string;
  run(input: never, context: SkillContext): Promise<unknown>;
}

/**
 * Wraps `base` (the skill's own implementation) and its patches in the patch machinery. Checks
 * the patches (`config_invalid` naming `<where>.patches[i]`): each version above `base.version`
 * and unique, each signature with a code or a message.
 */
export function createPatchedRun(
  skill: string,
  base: Implementation,
  patches: ReadonlyArray<SkillPatch<never, unknown>>,
  options: PatchingOptions = {},
  where = `Skill(${skill})`,
): PatchedRun {
  checkPatches(base.version, patches, where);
  const share = options.share ?? 0.5;
  if (!(share > 0 && share <= 1)) {
    throw new HarnessError('config_invalid', `${where}.patching.share must be in (0, 1] (got ${share})`, {
      location: { path: `${where}.patching.share` },
      hint: 'the share of calls a patch gets while it is on trial, e.g. 0.5',
    });
  }
  const subject = `patch:${skill}`;
  const keyOf = options.key ?? ((_input: unknown, context: SkillContext) => context.idempotencyKey);
  const byVersion = new Map<string, Implementation>([[base.version, base]]);
  for (const patch of patches) byVersion.set(patch.version, patch as Implementation);
  // The default controller is opened at the first call, not when the skill is built.
  let controller: CanaryController | undefined = options.controller;
  const canaries = () => {
    controller ??= defaultCanaryController();
    return controller;
  };
  let active = base.version;

  const implementation = (version: string) => byVersion.get(version) ?? base;

  /** Emits a decision into the run and notes the new active version. */
  const decided = (context: SkillContext, decision: ReturnType<CanaryController['record']>) => {
    active = reportDecision(context, subject, decision) ?? active;
  };

  /** The patch to try for `error` when `current` runs: the newest matching one above it, never rolled back. */
  const patchFor = (error: HarnessError, current: string): SkillPatch<never, unknown> | undefined => {
    const candidates = patches.filter(
      (patch) => compareVersions(patch.version, current) > 0 && matchesSignature(patch.fixes, error),
    );
    if (candidates.length === 0) return undefined;
    const rejected = new Set(
      canaries()
        .decisions(subject)
        .filter((d) => d.decision === 'rollback')
        .map((d) => d.candidate),
    );
    return candidates
      .filter((patch) => !rejected.has(patch.version))
      .sort((a, b) => compareVersions(b.version, a.version))[0];
  };

  const run = async (input: never, context: SkillContext): Promise<unknown> => {
    const state = canaries().peek(subject);
    const trial =
      state?.status === 'running' && byVersion.has(state.stable) && byVersion.has(state.candidate)
        ? state
        : undefined;
    if (trial) {
      const route = canaries().route(subject, keyOf(input, context));
      const started = Date.now();
      let output: unknown;
      try {
        output = await implementation(route.version).run(input, context);
      } catch (error) {
        if (countsAsFailure(error, context.signal))
          decided(context, canaries().record(subject, route.version, { ok: false }));
        throw error;
      }
      decided(
        context,
        canaries().record(subject, route.version, { ok: true, latencyMs: Date.now() - started }),
      );
      return output;
    }
    // Outside a trial: the version that won the last one (a state from another process counts).
    if (state) active = byVersion.has(state.active) ? state.active : base.version;
    const current = active;
    try {
      return await implementation(current).run(input, context);
    } catch (error) {
      if (countsAsFailure(error, context.signal)) {
        try {
          onFailure(toHarnessError(error, 'skill_failed'), current, context);
        } catch {
          // The state file is failing (peek reports it to the controller's onError listeners at
          // the next call): the patch cannot go on trial now. The skill's own failure is what the
          // caller gets, and the next matching failure tries again.
        }
      }
      throw error;
    }
  };

  /** A failure of `current` outside a trial: counts in a trial a concurrent call started, or starts one. */
  const onFailure = (failure: HarnessError, current: string, context: SkillContext) => {
    // A call that began before a concurrent failure put a patch on trial ran the version the
    // trial compares against: it counts there, and the patch is not applied twice.
    const now = canaries().peek(subject);
    if (now?.status === 'running' && now.stable === current && byVersion.has(now.candidate)) {
      decided(context, canaries().record(subject, current, { ok: false }));
      return;
    }
    const patch = patchFor(failure, current);
    if (!patch) return;
    canaries().start(subject, {
      stable: current,
      candidate: patch.version,
      share,
      goal: 'fewer-errors',
      ...(options.test === undefined ? {} : { test: options.test }),
    });
    // The failure that triggered the patch is the first evidence against the current version.
    decided(context, canaries().record(subject, current, { ok: false }));
    context.emit?.({
      type: 'patch-applied',
      skill,
      version: patch.version,
      signature: describeSignature(patch.fixes),
    });
  };

  return {
    subject,
    get activeVersion() {
      return active;
    },
    run,
  };
}

/**
 * `skill` with `patches`: the same name, description and schemas; `version` is the version calls
 * get outside a trial (the skill's own until a patch is promoted). A patch's result is checked
 * against the skill's output schema like the skill's own.
 */
export function withPatches<I, O>(
  skill: AnySkill,
  patches: ReadonlyArray<SkillPatch<I, O>>,
  options: PatchingOptions = {},
): AnySkill & { readonly subject: string } {
  const schema = skill.outputSchema;
  const checked = patches.map((patch) => ({
    ...patch,
    run: (input: I, context: SkillContext) =>
      schema === undefined ? patch.run(input, context) : check(skill.name, schema, patch.run(input, context)),
  }));
  const patched = createPatchedRun(
    skill.name,
    { version: skill.version, run: (input, context) => skill.run(input, context) },
    checked as unknown as ReadonlyArray<SkillPatch<never, unknown>>,
    options,
    `withPatches(${skill.name})`,
  );
  return {
    name: skill.name,
    description: skill.description,
    inputSchema: skill.inputSchema,
    ...(schema === undefined ? {} : { outputSchema: schema }),
    subject: patched.subject,
    get version() {
      return patched.activeVersion;
    },
    run: (input: never, context: SkillContext) => patched.run(input, context),
  };
}

async function check(
  skill: string,
  schema: NonNullable<AnySkill['outputSchema']>,
  output: unknown,
): Promise<unknown> {
  return checkSkillOutput(skill, schema, await output);
}

/** True when `error` has the signature: its code (when given) and its message (when given). */
export function matchesSignature(signature: PatchSignature, error: HarnessError): boolean {
  if (signature.code !== undefined && signature.code !== error.code) return false;
  const pattern = signature.message;
  if (pattern === undefined) return true;
  if (typeof pattern === 'string') return error.message.includes(pattern);
  // A global or sticky RegExp keeps state between tests; a copy without it does not.
  return new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, '')).test(error.message);
}

/** `skill_failed /invalid order id/`: how a signature is shown in events and errors. */
export function describeSignature(signature: PatchSignature): string {
  const message = signature.message;
  const shown =
    message === undefined ? '' : typeof message === 'string' ? JSON.stringify(message) : String(message);
  return [signature.code ?? '*', shown].filter((part) => part !== '').join(' ');
}

/**
 * Orders semantic versions (`1.0.10` > `1.0.9`; a pre-release below its release); anything
 * else compares as text.
 */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => /^v?(\d+)\.(\d+)\.(\d+)(?:-([\w.-]+))?(?:\+[\w.-]+)?$/.exec(v);
  const pa = parse(a);
  const pb = parse(b);
  if (!pa || !pb) return a < b ? -1 : a > b ? 1 : 0;
  for (let i = 1; i <= 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0) return Math.sign(d);
  }
  const ra = pa[4];
  const rb = pb[4];
  if (ra === rb) return 0;
  if (ra === undefined) return 1;
  if (rb === undefined) return -1;
  return ra < rb ? -1 : 1;
}

function checkPatches(
  baseVersion: string,
  patches: ReadonlyArray<SkillPatch<never, unknown>>,
  where: string,
): void {
  const seen = new Set<string>();
  patches.forEach((patch, i) => {
    const at = `${where}.patches[${i}]`;
    const fail = (field: string, message: string, hint: string) =>
      new HarnessError('config_invalid', `${at}.${field}: ${message}`, {
        location: { path: `${at}.${field}` },
        hint,
      });
    if (typeof patch.version !== 'string' || compareVersions(patch.version, baseVersion) <= 0) {
      throw fail(
        'version',
        `patch version "${String(patch.version)}" is not above the skill's version "${baseVersion}"`,
        'give each patch a newer semantic version, e.g. 1.0.1 for a 1.0.0 skill',
      );
    }
    if (seen.has(patch.version)) {
      throw fail('version', `two patches have version "${patch.version}"`, 'give each patch its own version');
    }
    seen.add(patch.version);
    if (patch.fixes?.code === undefined && patch.fixes?.message === undefined) {
      throw fail(
        'fixes',
        'a patch must name the failures it fixes',
        'set fixes.code (e.g. "skill_failed") and/or fixes.message (a RegExp or a substring of the error message)',
      );
    }
    if (typeof patch.run !== 'function') {
      throw fail(
        'run',
        'a patch needs a run function',
        'give the patched implementation as run(input, context)',
      );
    }
  });
}
