/**
 * `Harness`: owns the model registry, the skill registry and the memories; runs councils and
 * single model calls. Build it from objects or from a YAML file (`Harness.fromFile`).
 */
import { createHash, randomUUID } from 'node:crypto';
import { watch as watchFs } from 'node:fs';
import { basename, dirname, resolve as resolvePath } from 'node:path';
import { Counter, Gauge } from 'prom-client';
import { didYouMean } from '../config/did-you-mean.ts';
import { type LoadedConfig, loadConfigFile, parseConfig } from '../config/load.ts';
import type { Engine } from '../engine/engine.ts';
import { LocalEngine } from '../engine/local.ts';
import { HarnessError, toHarnessError } from '../errors.ts';
import type { BreakerStatus } from '../gateway/breaker.ts';
import type { RetryPolicy } from '../gateway/gateway-model.ts';
import type { SecretStore } from '../gateway/secrets.ts';
import {
  createMemoryProbe,
  HealthMonitor,
  MemoryPressure,
  type MemoryPressureOptions,
} from '../health/index.ts';
import { ScaleSignal } from '../health/scale-signal.ts';
import type { CanaryController } from '../learning/canary.ts';
import { Memory } from '../memory/index.ts';
import { Redactor } from '../models/credentials.ts';
import { type GatewayDefaults, ModelRegistry, unknownModel } from '../models/registry.ts';
import type { ModelEntry } from '../models/types.ts';
import { skillCache } from '../skills/cache.ts';
import { resolveSkillConfig } from '../skills/config.ts';
import { installTelemetry, type Telemetry } from '../telemetry/install.ts';
import type { CostLedger } from '../telemetry/ledger.ts';
import type { ForgeMetrics } from '../telemetry/metrics.ts';
import { OpenTelemetryExporter } from '../telemetry/otel-exporter.ts';
import { eventError } from './agent-run.ts';
import { Budget, isRunLimit, parseLimits, type RunLimits, tighter } from './budget.ts';
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
import { executeCouncil, type RunScope } from './council-executor.ts';
import { EventLog, emptyUsage, Listeners, type RunEvent, type SubscribeOptions } from './events.ts';
import { type JournalRun, openJournal, type RunFilter, type RunJournal } from './journal.ts';
import { RecursionPolicy } from './recursion-policy.ts';
import { Run, type RunResult, type RunStatus } from './run.ts';
import { createScheduler } from './scheduler/scheduler.ts';
import type { Priority, Scheduler, SchedulerOptions } from './scheduler/types.ts';
import { type AnySkill, isSkillSource, SkillRegistry, type SkillSource } from './skill.ts';
import type { CouncilSpec } from './spec.ts';

/** The default memory when a council names none: the embedded SQLite store. */
export const defaultMemoryUrl = 'sqlite://.forge/memory.db';

/** The default run journal. */
export const defaultJournalUrl = 'sqlite://.forge/journal.db';

export interface HarnessOptions {
  models?: ModelEntry[];
  councils?: Array<Council | CouncilSpec>;
  /** Skills registered in code; YAML names resolve against these and the built-ins (NLU, Search). */
  skills?: Array<AnySkill | SkillSource>;
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
  /**
   * The run journal: a `sqlite://` URL or file path, a `RunJournal`, or `false` for none (no
   * resume, no `forge runs`). Default `$FORGE_JOURNAL_URL` or `sqlite://.forge/journal.db`.
   */
  journal?: string | RunJournal | false;
  /**
   * Run admission (priorities, concurrency caps, tenant quota) and model-call rate limits: a
   * `Scheduler`, or options for the built-in one (default: `createScheduler()` with the
   * defaults of docs/scheduler.md, the config file's `scheduler:` when built from one).
   */
  scheduler?: Scheduler | SchedulerOptions;
  /** Where runs execute (default: a `LocalEngine` over the scheduler and the journal). */
  engine?: Engine;
  /**
   * Heap watermarks: above the high one skill caches are emptied and new runs are refused with
   * `overloaded` (retryable, `details.retryAfterMs`) until the heap is back below the low one.
   */
  memoryPressure?: MemoryPressureOptions;
  /** Defaults of every provider model's timeouts, breaker and hedging (an entry's own settings win). */
  gateway?: GatewayDefaults;
  /** Reads and re-reads API keys (default: `env:`, `file:` and `cmd:` references). */
  secrets?: SecretStore;
}

/** What a reload installed. */
export interface ReloadResult {
  models: string[];
  councils: string[];
}

export interface WatchOptions {
  /** Wait after the last change before reloading, ms (default 200). */
  debounceMs?: number;
  /** Each reload's outcome: its result, or the error that kept the old config. */
  onReload?: (outcome: ReloadResult | HarnessError) => void;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Scheduling priority (default: the council's, else `normal`). */
  priority?: Priority;
  /** Limits of this run, tightening the council's (tokens, costUsd, wallTimeMs, modelCalls, depth). */
  limits?: RunLimits;
  /**
   * Stream model answers as `token-delta` events. Unset (the default): each agent turn streams
   * when someone watches the run live — an iterator (`for await (const e of run)`), `onEvent`,
   * `Run.onEvent`, or a `Harness.subscribe` listener that takes token deltas — and otherwise makes
   * one non-streaming call per model step (the same events but the deltas, a fraction of the
   * work: ADR 0008). `true`: always stream; `false`: never.
   */
  stream?: boolean;
  /** Called for every event as it happens. */
  onEvent?: (event: RunEvent) => void;
  tenant?: string;
}

export class Harness {
  #registry!: ModelRegistry;
  readonly skills = new SkillRegistry();
  readonly telemetry: OpenTelemetryExporter | undefined;
  /** Prometheus metrics of every run (`metrics.metrics()` is the text a `/metrics` route serves). */
  readonly metrics: ForgeMetrics;
  /** Tokens and USD per model attempt (failed and fallback attempts included), per run and sub-agent. */
  readonly ledger: CostLedger;
  readonly #telemetryHandle: Telemetry;
  /** Whether more workers would help (latency spikes, queueing): for `/health`, metrics and autoscalers. */
  readonly scale: ScaleSignal;
  /** Canary controllers of `type: canary` models, watched for decisions (metrics) and closed at stop. */
  readonly #canaries = new Set<CanaryController>();
  #canaryDecisions: Counter<'subject' | 'decision'> | undefined;
  #exporterStarted: Promise<void> | undefined;
  /** Probes every council memory (every 10 s once started); `health.check()` checks now. */
  readonly health = new HealthMonitor();
  /** Sheds new runs and evicts caches when the heap nears its limit (see `HarnessOptions.memoryPressure`). */
  readonly memoryPressure: MemoryPressure;
  readonly #councils = new Map<string, Council>();
  /** Per council: its memory as agents and skills see it (with the embedder when it has one). */
  readonly #memories = new WeakMap<Council, Memory>();
  readonly #redactor = new Redactor();
  readonly #defaultMemory: Memory;
  readonly #tenant: string;
  #deps: CallDeps;
  #source: LoadedConfig | undefined;
  readonly #options: HarnessOptions;
  /** Memories of councils built from specs, by URL: a reloaded council keeps its open store. */
  readonly #memoryByUrl = new Map<string, Memory>();
  #started: Promise<void> | undefined;
  readonly #prepared = new WeakMap<Council, Map<string, Promise<void>>>();
  #stopped = false;
  /** Listeners of every run's events (telemetry, metrics, dashboards). */
  readonly #listeners = new Listeners();
  /** Skill providers (MCP servers): loaded once before the first council is prepared, closed at stop. */
  readonly #sources: SkillSource[] = [];
  #sourcesLoaded: Promise<void> | undefined;
  readonly #journalOption: string | RunJournal | false;
  #journal: RunJournal | undefined;
  /** Run admission and model-call limits; `scheduler.stats()` shows queue depth and waits. */
  readonly scheduler: Scheduler;
  /** Where runs execute: the local engine (this process, admitted by the scheduler) by default. */
  readonly engine: Engine;

  constructor(options: HarnessOptions = {}, source?: LoadedConfig) {
    // Provider warnings reach the run as `model-warning` events; the AI SDK's own console
    // logging of them would only duplicate that (a value the application set is kept).
    const g = globalThis as { AI_SDK_LOG_WARNINGS?: unknown };
    g.AI_SDK_LOG_WARNINGS ??= false;
    this.#source = source;
    this.#options = options;
    this.#registry = this.#buildRegistry(options.models ?? [], source);
    for (const skill of builtinSkills()) this.skills.register(skill);
    for (const skill of options.skills ?? []) {
      if (isSkillSource(skill)) this.#sources.push(skill);
      else this.skills.register(skill);
    }
    for (const council of options.councils ?? []) this.addCouncil(council);
    this.#defaultMemory = Memory.from(options.memory ?? process.env.FORGE_MEMORY_URL ?? defaultMemoryUrl);
    this.telemetry = options.telemetry;
    this.#journalOption = options.journal ?? process.env.FORGE_JOURNAL_URL ?? defaultJournalUrl;
    this.scheduler =
      options.scheduler !== undefined && 'admit' in options.scheduler
        ? options.scheduler
        : createScheduler(options.scheduler ?? source?.scheduler ?? {});
    this.engine =
      options.engine ?? new LocalEngine({ scheduler: this.scheduler, journal: () => this.journal });
    this.memoryPressure = new MemoryPressure(options.memoryPressure);
    // Under memory pressure the caches go first; skills loaded later (MCP) are included.
    this.memoryPressure.onPressure(() => {
      for (const name of this.skills.names()) {
        const skill = this.skills.get(name);
        if (skill) skillCache(skill)?.clear();
      }
    });
    this.#tenant = options.tenant ?? 'default';
    this.#deps = {
      registry: this.#registry,
      redactor: this.#redactor,
      ...(options.retry === undefined ? {} : { retry: options.retry }),
      limiter: this.scheduler.limiter,
    };
    // Spans, metrics and the cost ledger hang on every run's events (O(1) work per event).
    this.#telemetryHandle = installTelemetry(this);
    this.metrics = this.#telemetryHandle.metrics;
    this.ledger = this.#telemetryHandle.ledger;
    this.#canaryDecisions = new Counter({
      name: 'forge_canary_decisions_total',
      help: 'Canary promotions and rollbacks (model and skill canaries, self-patches)',
      labelNames: ['subject', 'decision'],
      registers: [this.metrics.registry],
    });
    this.#watchCanaries(this.#registry);
    this.#listeners.add(
      (event) => {
        if (event.type === 'canary-decision') {
          this.#canaryDecisions?.inc({ subject: event.subject, decision: event.decision });
        }
      },
      { tokenDeltas: false },
    );
    this.scale = ScaleSignal.forHarness(this);
    const scale = this.scale;
    new Gauge({
      name: 'forge_scale_desired_workers',
      help: 'Workers the scale signal asks for (queue depth, admission waits, slow model calls)',
      registers: [this.metrics.registry],
      collect() {
        this.set(scale.read().desiredWorkers);
      },
    });
  }

  /** The model registry runs start with (a reload replaces it; runs in flight keep theirs). */
  get registry(): ModelRegistry {
    return this.#registry;
  }

  /** Every circuit breaker's state (provider, model and key scopes), for `/health` and dashboards. */
  breakers(): BreakerStatus[] {
    return this.#registry.breakers.states();
  }

  #buildRegistry(models: readonly ModelEntry[], source: LoadedConfig | undefined): ModelRegistry {
    const options = this.#options;
    const entries = models.map((entry) => ({ ...entry, ...(options.modelOverrides?.[entry.id] ?? {}) }));
    const origins = new Map<string, string>();
    for (const [i, entry] of entries.entries()) {
      if (source) origins.set(entry.id, describe(source, ['models', i]));
    }
    return new ModelRegistry(entries, {
      redactor: this.#redactor,
      origins,
      ...(options.env === undefined ? {} : { env: options.env }),
      ...(options.gateway === undefined ? {} : { defaults: options.gateway }),
      ...(options.secrets === undefined ? {} : { secrets: options.secrets }),
      // A reload keeps what the breakers learned: a sick model stays skipped.
      ...(this.#registry === undefined ? {} : { breakers: this.#registry.breakers }),
    });
  }

  /** A council from its spec; councils naming the same memory URL share one open memory. */
  #councilFromSpec(spec: CouncilSpec): Council {
    let memory: Memory | undefined;
    if (spec.memory !== undefined) {
      memory = this.#memoryByUrl.get(spec.memory) ?? Memory.from(spec.memory);
      this.#memoryByUrl.set(spec.memory, memory);
    }
    const { memory: _url, ...rest } = spec;
    return councilFromSpec({ ...rest }, memory);
  }

  /**
   * Hot swap: loads a config file (or YAML text), validates it completely — schema, references,
   * models and their keys, skills — against a staged registry, and only then replaces the
   * registry and the councils. A bad config throws (located in the file) and the old one keeps
   * serving. Runs in flight finish on the models they started with; memories (same URL: the same
   * open store) and skill caches are untouched. The `skills:`, `scheduler:` and `journal:`
   * sections are read at construction only: changing them needs a restart.
   */
  async reload(next: string | { yaml: string; file?: string }): Promise<ReloadResult> {
    if (this.#stopped) {
      throw new HarnessError('harness_not_started', 'the harness was stopped', {
        hint: 'create a new Harness',
      });
    }
    const options = configOptions(this.#options);
    const config =
      typeof next === 'string'
        ? await loadConfigFile(next, options)
        : parseConfig(next.yaml, { ...options, ...(next.file === undefined ? {} : { file: next.file }) });
    const registry = this.#buildRegistry(config.models, config);
    const councils = config.councils.map((spec) => this.#councilFromSpec(spec));
    for (const council of councils) this.#checkStatic(council, { registry, source: config, councils });
    this.#registry = registry;
    this.#watchCanaries(registry);
    this.#source = config;
    this.#deps = { ...this.#deps, registry };
    this.#councils.clear();
    for (const council of councils) this.#councils.set(council.name, council);
    // New council objects: the next run prepares them (memory ping, knowledge) again.
    this.#started = undefined;
    return { models: registry.ids(), councils: councils.map((c) => c.name) };
  }

  /**
   * Reloads `path` whenever it changes (debounced), until the returned function is called.
   * `onReload` gets each outcome: the result, or the error of a config that was refused (the
   * old config keeps serving).
   */
  watch(path: string, options: WatchOptions = {}): () => void {
    const debounceMs = options.debounceMs ?? 200;
    let timer: NodeJS.Timeout | undefined;
    const fire = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        this.reload(path).then(
          (result) => options.onReload?.(result),
          (error: unknown) => options.onReload?.(toHarnessError(error)),
        );
      }, debounceMs);
    };
    // Editors often replace the file (rename): watch the folder and filter by name.
    const watcher = watchFs(dirname(resolvePath(path)), (_event, name) => {
      if (name === null || name === basename(path)) fire();
    });
    watcher.unref();
    return () => {
      clearTimeout(timer);
      watcher.close();
    };
  }

  /** Reloads `path` when the process gets `signal` (default `SIGHUP`: `kill -HUP <pid>`); returns a function that stops listening. */
  reloadOnSignal(path: string, options: WatchOptions & { signal?: NodeJS.Signals } = {}): () => void {
    const signal = options.signal ?? 'SIGHUP';
    const handler = () => {
      this.reload(path).then(
        (result) => options.onReload?.(result),
        (error: unknown) => options.onReload?.(toHarnessError(error)),
      );
    };
    process.on(signal, handler);
    return () => process.off(signal, handler);
  }

  /** Loads a `councils.yaml` (models + councils) and builds a harness from it. */
  static async fromFile(
    path: string,
    options: Omit<HarnessOptions, 'models' | 'councils'> = {},
  ): Promise<Harness> {
    const config = await loadConfigFile(path, configOptions(options));
    return Harness.#fromConfig(config, options);
  }

  /** Builds a harness from YAML text (`file` only names it in errors). */
  static fromYaml(
    text: string,
    options: Omit<HarnessOptions, 'models' | 'councils'> & { file?: string } = {},
  ): Harness {
    const { file, ...rest } = options;
    const config = parseConfig(text, { ...configOptions(rest), ...(file === undefined ? {} : { file }) });
    return Harness.#fromConfig(config, rest);
  }

  static #fromConfig(config: LoadedConfig, options: Omit<HarnessOptions, 'models' | 'councils'>): Harness {
    const journal = options.journal ?? config.journal;
    const given = options.skills ?? [];
    // `skills:` in the file: bundles, MCP servers, and cache settings for skills given in code
    // (a cached copy registered later replaces the plain one of the same name).
    let fromFile: { skills: AnySkill[]; sources: SkillSource[] } = { skills: [], sources: [] };
    if (config.skills) {
      try {
        fromFile = resolveSkillConfig(config.skills, [
          ...builtinSkills(),
          ...given.filter((s): s is AnySkill => !isSkillSource(s)),
        ]);
      } catch (error) {
        // Errors name `skills[i]...`: point them at the line in the file.
        const e = toHarnessError(error);
        const path = e.location?.path;
        throw path?.startsWith('skills[')
          ? new HarnessError(e.code, e.message, {
              cause: e.cause,
              ...(e.hint === undefined ? {} : { hint: e.hint }),
              details: e.details,
              location: config.locate(
                path
                  .replace(/\[(\d+)\]/g, '.$1')
                  .split('.')
                  .map((p) => (/^\d+$/.test(p) ? Number(p) : p)),
              ),
            })
          : e;
      }
    }
    const otlp = config.telemetry?.exporter === 'otlp' ? config.telemetry : undefined;
    const telemetry =
      options.telemetry ??
      (otlp
        ? new OpenTelemetryExporter({
            ...(otlp.endpoint === undefined ? {} : { endpoint: otlp.endpoint }),
            ...(otlp.serviceName === undefined ? {} : { serviceName: otlp.serviceName }),
          })
        : undefined);
    return new Harness(
      {
        ...options,
        ...(telemetry === undefined ? {} : { telemetry }),
        models: config.models,
        councils: config.councils,
        skills: [...given, ...fromFile.skills, ...fromFile.sources],
        ...(journal === undefined ? {} : { journal }),
      },
      config,
    );
  }

  /**
   * Adds or replaces a council — a hot swap when the name exists: runs in flight finish on the
   * council they started with, the next run uses the new one (its models and skills are checked
   * then), and memory is untouched.
   */
  addCouncil(council: Council | CouncilSpec): Council {
    const built = council instanceof Council ? council : this.#councilFromSpec(council);
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
      await this.#startExporter();
      for (const council of this.#councils.values()) await this.#prepare(council, this.#tenant);
      this.health.start();
      this.memoryPressure.start();
      this.#startExporter();
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
    if (this.#sources.length > 0) {
      this.#sourcesLoaded ??= this.#loadSources().catch((error: unknown) => {
        this.#sourcesLoaded = undefined;
        throw error;
      });
      const loaded = this.#sourcesLoaded;
      return loaded.then(() => this.#prepareCouncil(council, tenant));
    }
    return this.#prepareCouncil(council, tenant);
  }

  /** Starts every skill source (MCP server) and registers the skills it provides. */
  async #loadSources(): Promise<void> {
    const loaded = await Promise.all(this.#sources.map((source) => source.load()));
    for (const skills of loaded) for (const skill of skills) this.skills.register(skill);
  }

  #prepareCouncil(council: Council, tenant: string): Promise<void> {
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
    this.#checkStatic(council, {
      registry: this.#registry,
      source: this.#source,
      councils: [...this.#councils.values()],
    });
    await this.#checkMemory(council, tenant);
  }

  /**
   * The checks that need no I/O beyond resolving keys: models, fallbacks and escalation models
   * exist and resolve, skills and sub-agents exist, the router and embedding models resolve.
   * Run against the live registry, or against a staged one before a reload.
   */
  #checkStatic(
    council: Council,
    view: { registry: ModelRegistry; source: LoadedConfig | undefined; councils: Council[] },
  ): void {
    const registry = view.registry;
    const ci = view.councils.indexOf(council);
    const locate = (error: HarnessError, path: Array<string | number> | undefined) =>
      this.#locate(error, path, view.source);
    // Locations point into the config file only for councils it defined.
    const at = (...path: Array<string | number>) => (ci < 0 ? undefined : ['councils', ci, ...path]);
    for (const [ai, agent] of council.agents.entries()) {
      for (const [fi, id] of [agent.model, ...(agent.spec.fallback ?? [])].entries()) {
        const where = at('agents', ai, ...(fi === 0 ? ['model'] : ['fallback', fi - 1]));
        if (!registry.has(id)) throw locate(unknownModel(id, registry.ids()), where);
        try {
          registry.resolve(id);
        } catch (error) {
          throw locate(toHarnessError(error), where);
        }
        const capabilities = registry.entry(id).capabilities;
        if ((agent.spec.skills?.length ?? 0) > 0 && capabilities && !capabilities.includes('tools')) {
          throw locate(
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
      const names = council.agents.map((a) => a.name);
      for (const [si, name] of (agent.spec.subagents ?? []).entries()) {
        if (names.includes(name)) continue;
        const guess = didYouMean(name, names);
        throw locate(
          new HarnessError('config_invalid', `agent "${agent.name}" lists unknown sub-agent "${name}"`, {
            hint: guess
              ? `did you mean "${guess}"?`
              : `sub-agents are agents of the same council: ${names.join(', ')}`,
            details: { option: `Council.agents[${ai}].subagents[${si}]` },
          }),
          at('agents', ai, 'subagents', si),
        );
      }
      if (agent.spec.escalateTo !== undefined && !registry.has(agent.spec.escalateTo)) {
        throw locate(unknownModel(agent.spec.escalateTo, registry.ids()), at('agents', ai, 'escalate_to'));
      }
      for (const [si, name] of (agent.spec.skills ?? []).entries()) {
        if (agent.skillInstances.some((s) => s.name === name) || this.skills.get(name)) continue;
        const guess = didYouMean(name, this.skills.names());
        throw locate(
          new HarnessError('unknown_skill', `agent "${agent.name}" uses unknown skill "${name}"`, {
            hint: guess
              ? `did you mean "${guess}"?`
              : `known skills: ${this.skills.names().join(', ')}; register yours with new Harness({ skills: [...] })`,
          }),
          at('agents', ai, 'skills', si),
        );
      }
    }
    const routerModel = council.router?.model;
    if (routerModel !== undefined && !registry.has(routerModel)) {
      throw locate(unknownModel(routerModel, registry.ids()), at('router', 'model'));
    }
    if (council.embeddingModel !== undefined) {
      try {
        registry.resolveEmbedding(council.embeddingModel);
      } catch (error) {
        throw locate(toHarnessError(error), at('embedding_model'));
      }
    }
  }

  async #checkMemory(council: Council, tenant: string): Promise<void> {
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
    this.memoryPressure.stop();
    this.#telemetryHandle.close();
    this.scale.close();
    for (const controller of this.#canaries) controller.close();
    if (this.#exporterStarted)
      await this.#exporterStarted.then(() => this.telemetry?.shutdown()).catch(() => {});
    // Closing the base memories is enough: an embedding wrapper closes what it wraps.
    const memories = new Set<Memory>([this.#defaultMemory]);
    for (const council of this.#councils.values()) if (council.memory) memories.add(council.memory);
    for (const memory of this.#memoryByUrl.values()) memories.add(memory);
    await Promise.all([...memories].map((m) => m.close()));
    await Promise.allSettled(this.#sources.map((source) => source.close()));
    await this.engine.close();
    // Only a journal the harness opened itself is closed here; one passed in belongs to the caller.
    if (typeof this.#journalOption !== 'object') this.#journal?.close();
    this.#journal = undefined;
  }

  /**
   * Runs a council on `input`. The returned `Run` is awaitable (`RunResult`, never rejects)
   * and async-iterable (`RunEvent`s from the first). With the journal on (the default), every
   * step is recorded so the run can be resumed after a crash ({@link Harness.resume}).
   */
  run(council: string | Council, input: string, options: RunOptions = {}): Run {
    const log = this.#log(`run_${randomUUID()}`, options);
    const result = this.#execute(log, council, input, options, undefined).finally(() => log.close());
    return new Run(log, result);
  }

  /**
   * Resumes an unfinished run from the journal (its process died, or was stopped): finished
   * steps replay from the journal without calling models or re-running skills; the step that
   * was in flight runs again (side-effecting skills get the same idempotency key). The council
   * must still be the one the run started with.
   */
  resume(runId: string, options: Omit<RunOptions, 'tenant'> = {}): Run {
    const log = this.#log(runId, options);
    const result = (async () => {
      const journal = this.#journalOrThrow();
      // Check the council before claiming the run: a refused resume leaves the run as it was.
      const found = journal.getRun(runId);
      if (found && councilHash(this.council(found.council)) !== found.councilHash) {
        throw new HarnessError(
          'resume_invalid',
          `council "${found.council}" changed since run ${runId} started; a resumed run must take the same path`,
          { hint: 'resume with the council definition the run started with, or start a new run' },
        );
      }
      const record = journal.claimRun(runId);
      const council = this.council(record.council);
      const saved = record.options as { priority?: Priority; limits?: RunLimits };
      return this.#execute(
        log,
        council,
        record.input,
        {
          ...options,
          tenant: record.tenant,
          ...(options.priority === undefined && saved.priority ? { priority: saved.priority } : {}),
          ...(options.limits === undefined && saved.limits ? { limits: saved.limits } : {}),
        },
        { attempt: record.attempts, journaledSteps: journal.stepCount(runId) },
      );
    })()
      .catch((error: unknown) => this.#refused(log, runId, toHarnessError(error)))
      .finally(() => log.close());
    return new Run(log, result);
  }

  /**
   * Calls `listener` with every event of every run of this harness (after the run's own
   * listeners); returns an unsubscribe function. Telemetry and metrics hang here.
   */
  subscribe(listener: (event: RunEvent) => void, options: SubscribeOptions = {}): () => void {
    return this.#listeners.add(listener, options);
  }

  #log(runId: string, options: Pick<RunOptions, 'onEvent'>): EventLog {
    const log = new EventLog(runId, this.#watchedByListeners);
    if (options.onEvent) log.subscribe(options.onEvent);
    log.subscribe((event) => this.#listeners.deliver(event), { tokenDeltas: false });
    return log;
  }

  /** Whether a `subscribe` listener takes token deltas (then every run streams). */
  readonly #watchedByListeners = () => this.#listeners.takeDeltas;

  /** Resumes every unfinished run whose process is gone (e.g. after a crash), oldest first. */
  resumeAll(options: Omit<RunOptions, 'tenant'> = {}): Run[] {
    this.#journalOrThrow();
    return this.engine.interrupted().map((runId) => this.resume(runId, options));
  }

  /** Runs in the journal, newest first. */
  runs(filter: RunFilter = {}): JournalRun[] {
    return this.#journalOrThrow().listRuns(filter);
  }

  /** A run's journaled events (every attempt), the raw material of `forge explain`. */
  journaledEvents(runId: string): Array<RunEvent & { attempt: number }> {
    const journal = this.#journalOrThrow();
    if (!journal.getRun(runId)) {
      throw new HarnessError('unknown_run', `no run ${runId} in the journal at ${journal.location}`, {
        hint: 'list runs with `forge runs`',
      });
    }
    return journal.events(runId);
  }

  /** The run journal (opened on first use), or undefined when it is off. */
  get journal(): RunJournal | undefined {
    if (this.#journalOption === false) return undefined;
    if (this.#journal === undefined) {
      this.#journal =
        typeof this.#journalOption === 'object' ? this.#journalOption : openJournal(this.#journalOption);
    }
    return this.#journal;
  }

  #journalOrThrow(): RunJournal {
    const journal = this.journal;
    if (!journal) {
      throw new HarnessError('journal_error', 'the run journal is off for this harness', {
        hint: 'create the Harness with journal: "sqlite://.forge/journal.db" (the default) to resume and list runs',
      });
    }
    return journal;
  }

  /** A resume that could not start: the run's result says why (the journal is untouched). */
  #refused(log: EventLog, runId: string, error: HarnessError): RunResult {
    log.emit([], { type: 'run-error', error: eventError(error), usage: emptyUsage(), durationMs: 0 });
    return {
      runId,
      council: '',
      status: 'failed',
      output: '',
      agents: [],
      usage: emptyUsage(),
      durationMs: 0,
      error,
    };
  }

  async #execute(
    log: EventLog,
    councilRef: string | Council,
    input: string,
    options: RunOptions,
    resumed: { attempt: number; journaledSteps: number } | undefined,
  ): Promise<RunResult> {
    const started = Date.now();
    const usage = emptyUsage();
    const name = typeof councilRef === 'string' ? councilRef : councilRef.name;
    const outcomes: RunResult['agents'] = [];
    const attempt = resumed?.attempt ?? 1;
    let journal: RunJournal | undefined;
    const ended = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, ended.signal]) : ended.signal;
    let timer: NodeJS.Timeout | undefined;
    let scope: RunScope | undefined;
    let journaled = false;
    try {
      if (this.#stopped)
        throw new HarnessError('harness_not_started', 'the harness was stopped', {
          hint: 'create a new Harness',
        });
      // Shedding load under memory pressure refuses new work; a resume finishes work already paid for.
      if (!resumed) this.memoryPressure.throwIfShedding();
      if (typeof input !== 'string' || input.trim() === '') {
        throw new HarnessError('prompt_invalid', 'the run input is empty', {
          hint: 'pass the request text to run()',
        });
      }
      // A Council object passed here runs as it is: it is not registered, so it neither replaces a
      // configured council of the same name nor stays referenced after the run.
      const council = typeof councilRef === 'string' ? this.council(councilRef) : councilRef;
      const tenant = options.tenant ?? this.#tenant;
      const limits = tighter(council.limits, parseLimits(options.limits, 'RunOptions.limits'));
      const priority = options.priority ?? council.priority ?? 'normal';
      journal = this.journal;
      if (journal && !resumed) {
        journal.createRun({
          runId: log.runId,
          council: council.name,
          input,
          tenant,
          councilHash: councilHash(council),
          options: { priority, ...(Object.keys(limits).length ? { limits } : {}) },
        });
      }
      if (journal) {
        const j = journal;
        log.subscribe(
          (event) => {
            if (event.type !== 'token-delta') j.appendEvent(event, attempt);
          },
          { tokenDeltas: false },
        );
        journaled = true;
      }
      // A new run waits for its turn on the event loop (behind the work of runs in flight) before
      // it holds anything more: telemetry state, a scheduler slot. It is in the journal already;
      // its run-start comes when it starts.
      const paced = this.scheduler.limiter.pace?.('start');
      if (paced) await paced;
      log.emit([name], { type: 'run-start', council: name, input });
      if (resumed) log.emit([name], { type: 'run-resume', ...resumed });
      await untilAborted(this.#prepare(council, tenant), signal);
      this.health.start();
      this.memoryPressure.start();
      this.#startExporter();
      const queued = Date.now();
      const job = { runId: log.runId, council: council.name, tenant, priority };
      // The engine admits the run (queue, priorities, quotas), then the council runs in its slot.
      return await this.engine.execute(
        job,
        async () => {
          log.emit([name], { type: 'run-queued', priority, waitedMs: Date.now() - queued });
          const budget = new Budget(limits, usage);
          const wall = budget.remainingMs();
          if (wall !== undefined) {
            timer = setTimeout(
              () =>
                ended.abort(
                  budget.exceeded('wallTimeMs', limits.wallTimeMs ?? 0, wall, scope?.lastOutput ?? ''),
                ),
              wall,
            );
            timer.unref?.();
          }
          scope = {
            runId: log.runId,
            log,
            journal,
            budget,
            signal,
            end: (reason) => ended.abort(reason),
            registry: this.registry,
            redactor: this.#redactor,
            retry: this.#deps.retry,
            limiter: this.scheduler.limiter,
            memory: this.memoryOf(council),
            tenant,
            skillsOf: (agent) =>
              (agent.spec.skills ?? []).map(
                (skillName) =>
                  agent.skillInstances.find((s) => s.name === skillName) ??
                  (this.skills.get(skillName) as AnySkill),
              ),
            outcomes,
            lastOutput: '',
            stream: options.stream ?? 'auto',
          };
          const result = await executeCouncil(scope, council, input, [name]);
          signal.throwIfAborted();
          const durationMs = Date.now() - started;
          log.emit([name], { type: 'run-finish', output: result.output, usage: { ...usage }, durationMs });
          journal?.finishRun(log.runId, 'succeeded', { output: result.output, usage });
          return {
            runId: log.runId,
            council: name,
            status: 'succeeded',
            output: result.output,
            agents: outcomes,
            usage,
            durationMs,
            ...(result.confidence === undefined ? {} : { confidence: result.confidence }),
          };
        },
        signal,
      );
    } catch (cause) {
      const reason = signal.aborted ? signal.reason : undefined;
      let error =
        reason !== undefined && HarnessError.isInstance(reason) && reason.code === 'limit_exceeded'
          ? reason
          : signal.aborted
            ? new HarnessError('aborted', `run ${log.runId} was aborted`, { cause: signal.reason })
            : toHarnessError(cause);
      const partialOutput = scope?.lastOutput ?? outcomes.at(-1)?.output ?? '';
      if (isRunLimit(error)) {
        // The usage in the error is the run's at the moment it stopped: the final totals.
        error = new HarnessError(error.code, error.message, {
          ...(error.hint === undefined ? {} : { hint: error.hint }),
          details: { ...error.details, usage: { ...usage }, partialOutput },
        });
        const d = error.details as { limit: string; limitValue: number; used: number };
        log.emit([name], { type: 'limit-exceeded', limit: d.limit, limitValue: d.limitValue, used: d.used });
      }
      const status: RunStatus =
        error.code === 'aborted' ? 'aborted' : error.code === 'limit_exceeded' ? 'limit_exceeded' : 'failed';
      const durationMs = Date.now() - started;
      log.emit([name], { type: 'run-error', error: eventError(error), usage: { ...usage }, durationMs });
      // An interrupted run stays resumable only when the process dies; a run that ended here is final.
      if (journal && journaled) {
        try {
          journal.finishRun(log.runId, status, {
            output: partialOutput,
            usage,
            error: { code: error.code, message: error.message, details: error.details },
          });
        } catch (journalError) {
          // A run's result never rejects: a journal that cannot record the end is reported as
          // the run's error (the run stays `running` in the journal, so it can be resumed).
          error = toHarnessError(journalError);
        }
      }
      return {
        runId: log.runId,
        council: name,
        status,
        output: partialOutput,
        agents: outcomes,
        usage,
        durationMs,
        error,
      };
    } finally {
      if (timer) clearTimeout(timer);
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

  /** Counts the decisions of model canaries (they happen outside any run, so no run event carries them). */
  #watchCanaries(registry: ModelRegistry): void {
    for (const id of registry.ids()) {
      if (registry.entry(id).type !== 'canary') continue;
      const controller = registry.canaryController(id);
      if (this.#canaries.has(controller)) continue;
      this.#canaries.add(controller);
      controller.onDecision((d) => this.#canaryDecisions?.inc({ subject: d.subject, decision: d.decision }));
    }
  }

  /** Starts the OTLP exporter once; a failure to start is reported by start(), not by runs. */
  #startExporter(): Promise<void> {
    this.#exporterStarted ??= this.telemetry ? this.telemetry.start() : Promise.resolve();
    return this.#exporterStarted;
  }

  #locate(
    error: HarnessError,
    path: Array<string | number> | undefined,
    source: LoadedConfig | undefined = this.#source,
  ): HarnessError {
    if (!source || error.location || path === undefined) return error;
    return new HarnessError(error.code, error.message, {
      cause: error.cause,
      isRetryable: error.isRetryable,
      ...(error.hint === undefined ? {} : { hint: error.hint }),
      details: error.details,
      location: source.locate(path),
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
  const given = (options.skills ?? []).filter((s): s is AnySkill => !isSkillSource(s));
  const sources = (options.skills ?? []).filter(isSkillSource).map((s) => s.name);
  return {
    knownSkills: [...builtinSkills(), ...given].map((s) => s.name),
    ...(sources.length ? { skillSources: sources } : {}),
    ...(options.env === undefined ? {} : { env: options.env }),
  };
}

function councilFromSpec(spec: CouncilSpec | Omit<CouncilSpec, 'memory'>, memory?: Memory): Council {
  const depth = spec.recursion?.maxDepth ?? spec.recursionDepth;
  const recursion =
    spec.recursion || spec.recursionDepth !== undefined
      ? new RecursionPolicy({ ...spec.recursion, ...(depth === undefined ? {} : { maxDepth: depth }) })
      : undefined;
  const { recursionDepth: _depth, recursion: _recursion, ...options } = spec;
  return new Council({
    ...options,
    ...(recursion === undefined ? {} : { recursion }),
    ...(memory === undefined ? {} : { memory }),
  });
}

function describe(source: LoadedConfig, path: Array<string | number>): string {
  const loc = source.locate(path);
  return `${loc.file ?? 'config'}${loc.line === undefined ? '' : `:${loc.line}`} ${loc.path}`;
}

/** A stable hash of what decides a council's path (strategy, agents, options); memory and skill code are not part of it. */
export function councilHash(council: Council): string {
  // A council's fields are read-only after construction: hash each council once, not per run.
  let hash = councilHashes.get(council);
  if (hash === undefined) {
    const text = JSON.stringify(council, (key, value) => (unhashed.has(key) ? undefined : value));
    hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
    councilHashes.set(council, hash);
  }
  return hash;
}

const unhashed = new Set(['memory', 'skillInstances', 'knowledge']);
const councilHashes = new WeakMap<Council, string>();
