/**
 * `Skill`: a unit of work an agent can use, with a zod input schema, an optional output schema
 * and a version. Skills are exposed to the agent's model as AI SDK tools; skill code can call
 * models through `context.callLlm`. Build one with `new Skill({...})` or by extending the class.
 */
import type { Schema } from 'ai';
import { z } from 'zod';
import { HarnessError } from '../errors.ts';
import { createPatchedRun, type PatchingOptions, type SkillPatch } from '../health/patches.ts';
import type { MemoryNamespace, MemoryStore } from '../memory/index.ts';
import { registerSkillCache, SkillCache, type SkillCacheOptions } from '../skills/cache.ts';
import type { SpawnRequest, SubAgentResult } from './agent-run.ts';
import type { CallLlmOptions, CallLlmResult } from './call-llm.ts';
import type { SkillEventBody } from './events.ts';

/** What a skill sees while it runs. */
export interface SkillContext {
  runId: string;
  /** Council tree path of the agent using the skill. */
  path: readonly string[];
  council: string;
  agent: string;
  /** The model id of the agent using the skill; `callLlm` defaults to it. */
  model: string;
  /** The council's memory and this run's namespace in it (council level, no agent). */
  memory: MemoryStore;
  namespace: MemoryNamespace;
  /**
   * Stable across re-executions of the same step (`<runId>/<council>/<agent>/<toolCallId>`): a side-effecting
   * skill passes it on (e.g. as an Idempotency-Key header) so a retried step has one effect.
   */
  idempotencyKey: string;
  signal: AbortSignal;
  /** Calls a model through the harness gateway (events, cost, fallback), defaulting to the agent's model. */
  callLlm(options: Omit<CallLlmOptions, 'model'> & { model?: string }): Promise<CallLlmResult>;
  /**
   * Runs a sub-agent (an agent of the council by name, or an ad-hoc `AgentOptions`) one level
   * deeper, on the run's shared budget. A failure is returned as `{ status: 'failed', error }`
   * for the skill to decide on; only a run limit or an abort throws.
   */
  spawn(request: SpawnRequest): Promise<SubAgentResult>;
  /**
   * Reports what the skill did to itself (a canary decided, a patch applied) as an event of the
   * run, at the agent's path. Absent when the skill runs outside a run.
   */
  emit?(event: SkillEventBody): void;
}

export interface SkillOptions<I, O> {
  /** Unique name; YAML refers to skills by it. Letters, digits, `_` and `-`. */
  name: string;
  /** Told to the model: when to use it and what it returns. */
  description: string;
  /** Semantic version of the implementation (default `1.0.0`). */
  version?: string;
  /** Validates the input the model sends (default: any object). */
  input?: z.ZodType<I>;
  /**
   * Validates what `run` returns (default: no check). A result that does not match fails the
   * call with `skill_failed` naming the zod path; the model sees it as a tool error and the run
   * goes on. The parsed value (unknown keys of `z.object` dropped) is what the model gets.
   */
  output?: z.ZodType<O>;
  /**
   * Opt-in LRU cache of successful results, keyed by the input's canonical JSON, the skill name
   * and its version (see {@link SkillCache}; e.g. `{ size: 500, ttlMs: 60_000 }`). Pass a
   * `SkillCache` to share one cache between versions of a skill. Only for skills whose result
   * depends on their input alone.
   */
  cache?: SkillCacheOptions | SkillCache;
  run?: (input: I, context: SkillContext) => Promise<O> | O;
  /**
   * Newer implementations keyed by the error signature each fixes (see docs/self-healing.md):
   * when the skill fails with a matching signature, the patch goes on trial as a canary and is
   * kept if it heals the failures, rolled back if not. Patch results pass the `output` check too.
   */
  patches?: ReadonlyArray<SkillPatch<I, O>>;
  /** How patches are tried: the canary controller, the share of calls on trial, the test. */
  patching?: PatchingOptions;
}

/**
 * Any skill, whatever its input and output types: what agents and registries hold. (A
 * `Skill<{ text: string }>` is not a `Skill<unknown>`, because its schema only accepts its input.)
 */
export interface AnySkill {
  readonly name: string;
  readonly description: string;
  readonly version: string;
  /**
   * The input the model must send: a zod schema, or an AI SDK `Schema` (`jsonSchema(...)` from
   * `ai`), as MCP tools have, whose JSON Schema goes to the model as it is.
   */
  readonly inputSchema: z.ZodType | Schema;
  /** What `run` returns, when the skill declares it; `Skill` checks every result against it. */
  readonly outputSchema?: z.ZodType | undefined;
  run(input: never, context: SkillContext): unknown;
}

/**
 * Something that provides skills once started (MCP servers); the harness starts it before the
 * councils that use it and closes it at stop.
 */
export interface SkillSource {
  /** Names the source in errors; its skills are named `<name>_<tool>`. */
  readonly name: string;
  /** Connects (or reconnects) and returns the skills it provides. */
  load(signal?: AbortSignal): Promise<AnySkill[]>;
  close(): Promise<void>;
}

/** True for a {@link SkillSource} (something with `load` and `close`), false for a skill. */
export function isSkillSource(value: AnySkill | SkillSource): value is SkillSource {
  return typeof (value as Partial<SkillSource>).load === 'function' && !('run' in value);
}

/** Letters, digits, `_` and `-`, a letter first, at most 64 characters: what models accept as tool names. */
export const skillNamePattern = /^[A-Za-z][\w-]{0,63}$/;

export class Skill<I = unknown, O = unknown> {
  readonly name: string;
  readonly description: string;
  readonly version: string;
  readonly inputSchema: z.ZodType<I>;
  readonly outputSchema: z.ZodType<O> | undefined;
  readonly #run: SkillOptions<I, O>['run'];

  constructor(options: SkillOptions<I, O>) {
    if (!skillNamePattern.test(options.name)) {
      throw new TypeError(
        `invalid skill name "${options.name}": use a letter first, then letters, digits, _ or - (max 64 characters)`,
      );
    }
    this.name = options.name;
    this.description = options.description;
    this.version = options.version ?? '1.0.0';
    this.inputSchema = options.input ?? (z.record(z.string(), z.unknown()) as unknown as z.ZodType<I>);
    this.outputSchema = options.output;
    this.#run = options.run;
    const cache =
      options.cache === undefined || options.cache instanceof SkillCache
        ? options.cache
        : new SkillCache(options.cache, `Skill(${options.name}).cache`);
    const patches = options.patches ?? [];
    if (this.outputSchema === undefined && cache === undefined && patches.length === 0) return;
    // `this.run` is the subclass's override or the default, whichever this object has: wrapping
    // it in an own property gives both ways of writing a skill the same output check and cache.
    const own = this.run;
    const schema = this.outputSchema;
    const check = (run: (input: I, context: SkillContext) => Promise<O> | O) =>
      schema === undefined
        ? (input: I, context: SkillContext) => run(input, context)
        : async (input: I, context: SkillContext) =>
            checkSkillOutput(this.name, schema, await run(input, context));
    const base = check((input, context) => own.call(this, input, context));
    // Patches wrap the checked versions, so an output that fails the schema is a failure a patch can fix.
    const checked =
      patches.length === 0
        ? base
        : (() => {
            const patched = createPatchedRun(
              this.name,
              { version: this.version, run: base as (input: never, context: SkillContext) => unknown },
              patches.map((patch) => ({ ...patch, run: check(patch.run) })) as unknown as ReadonlyArray<
                SkillPatch<never, unknown>
              >,
              options.patching,
            );
            return (input: I, context: SkillContext) => patched.run(input as never, context) as Promise<O>;
          })();
    if (cache === undefined) {
      this.run = checked;
      return;
    }
    registerSkillCache(this, cache);
    this.run = (input, context) =>
      cache.run(this, input, context.signal, async () => await checked(input, context));
  }

  /**
   * Does the skill's work. Subclasses override this method (not with a class field); the
   * default calls the `run` option. With an `output` schema or a `cache`, calls go through them.
   */
  run(input: I, context: SkillContext): Promise<O> | O {
    if (!this.#run)
      throw new TypeError(`skill "${this.name}" has no run(): pass run in the options or override run()`);
    return this.#run(input, context);
  }
}

/**
 * Checks a skill's result against its output schema and returns the parsed value; a mismatch
 * throws `skill_failed` naming each failing path (`items[0].price: expected number, ...`).
 */
export async function checkSkillOutput<O>(skill: string, schema: z.ZodType<O>, output: unknown): Promise<O> {
  const parsed = await schema.safeParseAsync(output);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({
    path: formatIssuePath(issue.path),
    message: issue.message,
  }));
  const shown = issues
    .slice(0, 3)
    .map((issue) => `${issue.path}: ${issue.message}`)
    .join('; ');
  const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : '';
  throw new HarnessError(
    'skill_failed',
    `skill "${skill}" returned output that does not match its output schema: ${shown}${more}`,
    {
      hint: "fix the skill's run() so it returns what its `output` schema describes, or correct the schema",
      details: { skill, issues },
    },
  );
}

/** `items[0].price`, or `(root)` for the value itself. */
function formatIssuePath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out === '' ? '(root)' : out;
}

/** Skills by name: those registered in code and the built-ins. */
export class SkillRegistry {
  readonly #skills = new Map<string, AnySkill>();

  register(skill: AnySkill): void {
    this.#skills.set(skill.name, skill);
  }

  get(name: string): AnySkill | undefined {
    return this.#skills.get(name);
  }

  names(): string[] {
    return [...this.#skills.keys()];
  }
}
