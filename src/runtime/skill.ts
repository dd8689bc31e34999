/**
 * `Skill`: a unit of work an agent can use, with a zod input schema and a version. Skills are
 * exposed to the agent's model as AI SDK tools; skill code can call models through
 * `context.callLlm`. Build one with `new Skill({...})` or by extending the class.
 */
import { z } from 'zod';
import type { MemoryNamespace, MemoryStore } from '../memory/index.ts';
import type { CallLlmOptions, CallLlmResult } from './call-llm.ts';

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
  run?: (input: I, context: SkillContext) => Promise<O> | O;
}

/**
 * Any skill, whatever its input and output types: what agents and registries hold. (A
 * `Skill<{ text: string }>` is not a `Skill<unknown>`, because its schema only accepts its input.)
 */
export interface AnySkill {
  readonly name: string;
  readonly description: string;
  readonly version: string;
  readonly inputSchema: z.ZodType;
  run(input: never, context: SkillContext): unknown;
}

const namePattern = /^[A-Za-z][\w-]{0,63}$/;

export class Skill<I = unknown, O = unknown> {
  readonly name: string;
  readonly description: string;
  readonly version: string;
  readonly inputSchema: z.ZodType<I>;
  readonly #run: SkillOptions<I, O>['run'];

  constructor(options: SkillOptions<I, O>) {
    if (!namePattern.test(options.name)) {
      throw new TypeError(
        `invalid skill name "${options.name}": use a letter first, then letters, digits, _ or - (max 64 characters)`,
      );
    }
    this.name = options.name;
    this.description = options.description;
    this.version = options.version ?? '1.0.0';
    this.inputSchema = options.input ?? (z.record(z.string(), z.unknown()) as unknown as z.ZodType<I>);
    this.#run = options.run;
  }

  /** Does the skill's work. Subclasses override this; the default calls the `run` option. */
  run(input: I, context: SkillContext): Promise<O> | O {
    if (!this.#run)
      throw new TypeError(`skill "${this.name}" has no run(): pass run in the options or override run()`);
    return this.#run(input, context);
  }
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
