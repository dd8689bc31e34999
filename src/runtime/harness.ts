/**
 * `Harness`: owns the model registry, the skill registry and the memories; runs councils and
 * single model calls. Build it from objects or from a YAML file (`Harness.fromFile`).
 */
import { createHash, randomUUID } from 'node:crypto';
import { didYouMean } from '../config/did-you-mean.ts';
import { type LoadedConfig, loadConfigFile, parseConfig } from '../config/load.ts';
import { HarnessError, toHarnessError } from '../errors.ts';
import type { RetryPolicy } from '../gateway/gateway-model.ts';
import { createMemoryProbe, HealthMonitor } from '../health/index.ts';
import { Memory } from '../memory/index.ts';
import { Redactor } from '../models/credentials.ts';
import { ModelRegistry, unknownModel } from '../models/registry.ts';
import type { ModelEntry } from '../models/types.ts';
import type { OpenTelemetryExporter } from '../telemetry/otel-exporter.ts';
import { eventError, runAgentTurn } from './agent-run.ts';
import { builtinSkills } from './builtin-skills.ts';
import {
  type CallDeps,
  type CallLlmOptions,
  type CallLlmResult,
  callLlm,
  type StreamLlmResult,
  streamLlm,
} from './call-llm.ts';
import { Council } from './council.ts';
import { EventLog, emptyUsage, type RunEvent } from './events.ts';
import { RecursionPolicy } from './recursion-policy.ts';
import { Run, type RunResult } from './run.ts';
import { type AnySkill, SkillRegistry } from './skill.ts';
import type { CouncilSpec } from './spec.ts';

/** The default memory when a council names none: the embedded SQLite store. */
export const defaultMemoryUrl = 'sqlite://.forge/memory.db';

export interface HarnessOptions {
  models?: ModelEntry[];
  councils?: Array<Council | CouncilSpec>;
  /** Skills registered in code; YAML names resolve against these and the built-ins (NLU, Search). */
  skills?: Array<AnySkill>;
  /** Memory for councils that name none (default `$FORGE_MEMORY_URL` or `sqlite://.forge/memory.db`). */
  memory?: Memory | string;
  /** Environment for credential references (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Field overrides per model id, applied over the entries (e.g. point `endpoint` at a test server). */
  modelOverrides?: Record<string, Partial<Omit<ModelEntry, 'id'>>>;
  telemetry?: OpenTelemetryExporter;
  /** Tenant used for memory namespaces when a run names none (default `default`). */
  tenant?: string;
  /** How a failing model is retried before falling back (default: 2 retries, Retry-After honoured). */
  retry?: Partial<RetryPolicy>;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Called for every event as it happens. */
  onEvent?: (event: RunEvent) => void;
  tenant?: string;
}

export class Harness {
  readonly registry: ModelRegistry;
  readonly skills = new SkillRegistry();
  readonly telemetry: OpenTelemetryExporter | undefined;
  /** Probes every council memory (every 10 s once started); `health.check()` checks now. */
  readonly health = new HealthMonitor();
  readonly #councils = new Map<string, Council>();
  /** Per council: its memory as agents and skills see it (with the embedder when it has one). */
  readonly #memories = new WeakMap<Council, Memory>();
  readonly #redactor = new Redactor();
  readonly #defaultMemory: Memory;
  readonly #tenant: string;
  readonly #deps: CallDeps;
  readonly #source: LoadedConfig | undefined;
  #started: Promise<void> | undefined;
  readonly #prepared = new WeakMap<Council, Map<string, Promise<void>>>();
  #stopped = false;

  constructor(options: HarnessOptions = {}, source?: LoadedConfig) {
    // Provider warnings reach the run as `model-warning` events; the AI SDK's own console
    // logging of them would only duplicate that (a value the application set is kept).
    const g = globalThis as { AI_SDK_LOG_WARNINGS?: unknown };
    g.AI_SDK_LOG_WARNINGS ??= false;
    this.#source = source;
    const entries = (options.models ?? []).map((entry) => ({
      ...entry,
      ...(options.modelOverrides?.[entry.id] ?? {}),
    }));
    const origins = new Map<string, string>();
    for (const [i, entry] of entries.entries()) {
      if (source) origins.set(entry.id, describe(source, ['models', i]));
    }
    this.registry = new ModelRegistry(entries, {
      redactor: this.#redactor,
      origins,
      ...(options.env === undefined ? {} : { env: options.env }),
    });
    for (const skill of builtinSkills()) this.skills.register(skill);
    for (const skill of options.skills ?? []) this.skills.register(skill);
    for (const council of options.councils ?? []) this.addCouncil(council);
    this.#defaultMemory = Memory.from(options.memory ?? process.env.FORGE_MEMORY_URL ?? defaultMemoryUrl);
    this.telemetry = options.telemetry;
    this.#tenant = options.tenant ?? 'default';
    this.#deps = {
      registry: this.registry,
      redactor: this.#redactor,
      ...(options.retry === undefined ? {} : { retry: options.retry }),
    };
  }

  /** Loads a `councils.yaml` (models + councils) and builds a harness from it. */
  static async fromFile(
    path: string,
    options: Omit<HarnessOptions, 'models' | 'councils'> = {},
  ): Promise<Harness> {
    const config = await loadConfigFile(path, configOptions(options));
    return new Harness({ ...options, models: config.models, councils: config.councils }, config);
  }

  /** Builds a harness from YAML text (`file` only names it in errors). */
  static fromYaml(
    text: string,
    options: Omit<HarnessOptions, 'models' | 'councils'> & { file?: string } = {},
  ): Harness {
    const { file, ...rest } = options;
    const config = parseConfig(text, { ...configOptions(rest), ...(file === undefined ? {} : { file }) });
    return new Harness({ ...rest, models: config.models, councils: config.councils }, config);
  }

  /**
   * Adds or replaces a council — a hot swap when the name exists: runs in flight finish on the
   * council they started with, the next run uses the new one (its models and skills are checked
   * then), and memory is untouched.
   */
  addCouncil(council: Council | CouncilSpec): Council {
    const built = council instanceof Council ? council : councilFromSpec(council);
    this.#councils.set(built.name, built);
    // A replaced council is a new object: its first run prepares it (models, skills, knowledge).
    this.#started = undefined;
    return built;
  }

  councilNames(): string[] {
    return [...this.#councils.keys()];
  }

  /** The council named `name`; an unknown name is `unknown_council` with a did-you-mean. */
  council(name: string): Council {
    const council = this.#councils.get(name);
    if (council) return council;
    const known = this.councilNames();
    const guess = didYouMean(name, known);
    throw new HarnessError('unknown_council', `no council named "${name}"`, {
      hint: guess
        ? `did you mean "${guess}"?`
        : known.length
          ? `councils: ${known.join(', ')}`
          : 'define one under `councils:`',
    });
  }

  /**
   * Prepares every council (see {@link Harness.run}: models, fallbacks and skills exist,
   * credentials resolve, the memory answers, knowledge is stored) and starts the health monitor.
   * Fails on the first problem, located in the config file when there is one. Idempotent.
   */
  start(): Promise<void> {
    if (this.#stopped) {
      return Promise.reject(
        new HarnessError('harness_not_started', 'the harness was stopped', { hint: 'create a new Harness' }),
      );
    }
    this.#started ??= (async () => {
      for (const council of this.#councils.values()) await this.#prepare(council, this.#tenant);
      this.health.start();
    })().catch((error: unknown) => {
      this.#started = undefined;
      throw error;
    });
    return this.#started;
  }

  /**
   * Prepares one council once (per tenant for its knowledge), so a run is never blocked by a
   * problem in another council it does not use (e.g. a missing key).
   */
  #prepare(council: Council, tenant: string): Promise<void> {
    const key = `${tenant}\u0000${council.name}`;
    let prepared = this.#prepared.get(council)?.get(key);
    if (!prepared) {
      prepared = this.#checkCouncil(council, tenant).catch((error: unknown) => {
        this.#prepared.get(council)?.delete(key);
        throw error;
      });
      const forCouncil = this.#prepared.get(council) ?? new Map<string, Promise<void>>();
      forCouncil.set(key, prepared);
      this.#prepared.set(council, forCouncil);
    }
    return prepared;
  }

  async #checkCouncil(council: Council, tenant: string): Promise<void> {
    if (this.#stopped) {
      throw new HarnessError('harness_not_started', 'the harness was stopped', {
        hint: 'create a new Harness',
      });
    }
    const ci = [...this.#councils.values()].indexOf(council);
    // Locations point into the config file only for councils it defined.
    const at = (...path: Array<string | number>) => (ci < 0 ? undefined : ['councils', ci, ...path]);
    for (const [ai, agent] of council.agents.entries()) {
      for (const [fi, id] of [agent.model, ...(agent.spec.fallback ?? [])].entries()) {
        const where = at('agents', ai, ...(fi === 0 ? ['model'] : ['fallback', fi - 1]));
        if (!this.registry.has(id)) throw this.#locate(unknownModel(id, this.registry.ids()), where);
        try {
          this.registry.resolve(id);
        } catch (error) {
          throw this.#locate(toHarnessError(error), where);
        }
        const capabilities = this.registry.entry(id).capabilities;
        if ((agent.spec.skills?.length ?? 0) > 0 && capabilities && !capabilities.includes('tools')) {
          throw this.#locate(
            new HarnessError(
              'config_invalid',
              `agent "${agent.name}" has skills, but model "${id}" cannot call tools`,
              {
                hint: 'use a model whose capabilities include tools, or add tools to its capabilities if it can',
              },
            ),
            where,
          );
        }
      }
      for (const [si, name] of (agent.spec.skills ?? []).entries()) {
        if (agent.skillInstances.some((s) => s.name === name) || this.skills.get(name)) continue;
        const guess = didYouMean(name, this.skills.names());
        throw this.#locate(
          new HarnessError('unknown_skill', `agent "${agent.name}" uses unknown skill "${name}"`, {
            hint: guess
              ? `did you mean "${guess}"?`
              : `known skills: ${this.skills.names().join(', ')}; register yours with new Harness({ skills: [...] })`,
          }),
          at('agents', ai, 'skills', si),
        );
      }
    }
    if (council.embeddingModel !== undefined) {
      try {
        this.registry.resolveEmbedding(council.embeddingModel);
      } catch (error) {
        throw this.#locate(toHarnessError(error), at('embedding_model'));
      }
    }
    const memory = this.memoryOf(council);
    this.health.add(createMemoryProbe(memory));
    await memory.ping();
    // Knowledge belongs to the council, so every tenant gets its own copy (tenants never share data).
    for (const doc of council.knowledge) {
      const d = typeof doc === 'string' ? { text: doc } : doc;
      await memory.remember(
        { tenant, council: council.name },
        {
          id: d.id ?? `kb-${createHash('sha256').update(d.text).digest('hex').slice(0, 16)}`,
          text: d.text,
          ...(d.meta ? { meta: d.meta } : {}),
        },
      );
    }
  }

  /**
   * The memory a council's agents and skills use: the council's own (or the harness default),
   * wrapped with the council's embedding model when it names one, so `remember` and `recall`
   * are semantic without any code in skills.
   */
  memoryOf(council: Council): Memory {
    let memory = this.#memories.get(council);
    if (!memory) {
      const base = council.memory ?? this.#defaultMemory;
      memory =
        council.embeddingModel === undefined
          ? base
          : new Memory({ store: base, embedder: this.registry.embedder(council.embeddingModel) });
      this.#memories.set(council, memory);
    }
    return memory;
  }

  /** Closes every memory. Final: a stopped harness refuses new runs; build a new one to run again. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#started = undefined;
    this.health.stop();
    // Closing the base memories is enough: an embedding wrapper closes what it wraps.
    const memories = new Set<Memory>([this.#defaultMemory]);
    for (const council of this.#councils.values()) if (council.memory) memories.add(council.memory);
    await Promise.all([...memories].map((m) => m.close()));
  }

  /**
   * Runs a council on `input`. The returned `Run` is awaitable (`RunResult`, never rejects)
   * and async-iterable (`RunEvent`s from the first).
   */
  run(council: string | Council, input: string, options: RunOptions = {}): Run {
    const log = new EventLog(`run_${randomUUID()}`);
    if (options.onEvent) log.subscribe(options.onEvent);
    const result = this.#execute(log, council, input, options).finally(() => log.close());
    return new Run(log, result);
  }

  async #execute(
    log: EventLog,
    councilRef: string | Council,
    input: string,
    options: RunOptions,
  ): Promise<RunResult> {
    const started = Date.now();
    const usage = emptyUsage();
    const name = typeof councilRef === 'string' ? councilRef : councilRef.name;
    const agents: RunResult['agents'] = [];
    log.emit([name], { type: 'run-start', council: name, input });
    const signal = options.signal ?? new AbortController().signal;
    try {
      if (this.#stopped)
        throw new HarnessError('harness_not_started', 'the harness was stopped', {
          hint: 'create a new Harness',
        });
      if (typeof input !== 'string' || input.trim() === '') {
        throw new HarnessError('prompt_invalid', 'the run input is empty', {
          hint: 'pass the request text to run()',
        });
      }
      // A Council object passed here runs as it is: it is not registered, so it neither replaces a
      // configured council of the same name nor stays referenced after the run.
      const council = typeof councilRef === 'string' ? this.council(councilRef) : councilRef;
      const tenant = options.tenant ?? this.#tenant;
      await untilAborted(this.#prepare(council, tenant), signal);
      this.health.start();
      const memory = this.memoryOf(council);
      let current = input;
      for (const agent of council.agents) {
        const skills = (agent.spec.skills ?? []).map(
          (skillName) =>
            agent.skillInstances.find((s) => s.name === skillName) ??
            (this.skills.get(skillName) as AnySkill),
        );
        const turn = await runAgentTurn({
          runUsage: usage,
          ...(this.#deps.retry === undefined ? {} : { retry: this.#deps.retry }),
          runId: log.runId,
          council: council.name,
          agent: agent.spec,
          skills,
          input: current,
          path: [council.name, agent.name],
          registry: this.registry,
          redactor: this.#redactor,
          log,
          memory,
          tenant,
          signal,
        });
        agents.push({ name: agent.name, model: turn.model, output: turn.output });
        current = `${input}\n\n[${agent.name}] ${turn.output}`;
      }
      const output = agents.at(-1)?.output ?? '';
      const durationMs = Date.now() - started;
      log.emit([name], { type: 'run-finish', output, usage: { ...usage }, durationMs });
      return { runId: log.runId, council: name, status: 'succeeded', output, agents, usage, durationMs };
    } catch (cause) {
      const error = signal.aborted
        ? new HarnessError('aborted', `run ${log.runId} was aborted`, { cause: signal.reason })
        : toHarnessError(cause);
      const durationMs = Date.now() - started;
      log.emit([name], { type: 'run-error', error: eventError(error), usage: { ...usage }, durationMs });
      return {
        runId: log.runId,
        council: name,
        status: error.code === 'aborted' ? 'aborted' : 'failed',
        output: agents.at(-1)?.output ?? '',
        agents,
        usage,
        durationMs,
        error,
      };
    }
  }

  /** One model call through the gateway, for use inside skills or on its own. */
  callLlm(options: CallLlmOptions): Promise<CallLlmResult> {
    return callLlm(this.#deps, options);
  }

  /** One streaming model call through the same path as {@link callLlm}. */
  streamLlm(options: CallLlmOptions): StreamLlmResult {
    return streamLlm(this.#deps, options);
  }

  /** Replaces every known secret in `text` with `***` (for logs you write yourself). */
  redact(text: string): string {
    return this.#redactor.redact(text);
  }

  #locate(error: HarnessError, path: Array<string | number> | undefined): HarnessError {
    if (!this.#source || error.location || path === undefined) return error;
    return new HarnessError(error.code, error.message, {
      cause: error.cause,
      isRetryable: error.isRetryable,
      ...(error.hint === undefined ? {} : { hint: error.hint }),
      details: error.details,
      location: this.#source.locate(path),
    });
  }
}

/** `promise`, or an `aborted` error as soon as `signal` fires (the promise itself goes on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function configOptions(options: Pick<HarnessOptions, 'skills' | 'env'>) {
  return {
    knownSkills: [...builtinSkills(), ...(options.skills ?? [])].map((s) => s.name),
    ...(options.env === undefined ? {} : { env: options.env }),
  };
}

function councilFromSpec(spec: CouncilSpec): Council {
  const depth = spec.recursion?.maxDepth ?? spec.recursionDepth;
  const recursion =
    spec.recursion || spec.recursionDepth !== undefined
      ? new RecursionPolicy({ ...spec.recursion, ...(depth === undefined ? {} : { maxDepth: depth }) })
      : undefined;
  return new Council({
    name: spec.name,
    agents: spec.agents,
    ...(spec.description === undefined ? {} : { description: spec.description }),
    ...(spec.strategy === undefined ? {} : { strategy: spec.strategy }),
    ...(spec.memory === undefined ? {} : { memory: spec.memory }),
    ...(spec.embeddingModel === undefined ? {} : { embeddingModel: spec.embeddingModel }),
    ...(recursion === undefined ? {} : { recursion }),
    ...(spec.knowledge === undefined ? {} : { knowledge: spec.knowledge }),
  });
}

function describe(source: LoadedConfig, path: Array<string | number>): string {
  const loc = source.locate(path);
  return `${loc.file ?? 'config'}${loc.line === undefined ? '' : `:${loc.line}`} ${loc.path}`;
}
