/**
 * The model registry: ids → entries (metadata, prices, capabilities) → AI SDK models, built
 * once and cached. Credentials are resolved when a model is first prepared; a missing one is a
 * `missing_credential` error naming the variable, never a value.
 */
import type { EmbeddingModelV4, LanguageModelV4 } from '@ai-sdk/provider';
import { embedMany } from 'ai';
import { didYouMean } from '../config/did-you-mean.ts';
import { HarnessError } from '../errors.ts';
import {
  BreakerBoard,
  type BreakerBoardOptions,
  type BreakerOptions,
  type Circuit,
} from '../gateway/breaker.ts';
import { ensembleFromRegistry } from '../gateway/ensemble.ts';
import { checkHedge, type HedgeOptions, LatencyTracker } from '../gateway/hedge.ts';
import { toProviderError } from '../gateway/provider-error.ts';
import {
  createSecretStore,
  KeyPool,
  type KeySlot,
  type KeyStatus,
  type SecretStore,
} from '../gateway/secrets.ts';
import { checkTimeouts, hasTimeouts, type ModelTimeouts } from '../gateway/timeouts.ts';
import { CanaryController, defaultCanaryUrl } from '../learning/canary.ts';
import { canaryFromRegistry } from '../learning/canary-model.ts';
import type { Embedder } from '../memory/memory.ts';
import { type Redactor, resolveCredential } from './credentials.ts';
import { providerType } from './providers.ts';
import type { ModelEntry } from './types.ts';

/** A registry entry together with its built AI SDK model. */
export interface ResolvedModel {
  entry: ModelEntry;
  model: LanguageModelV4;
}

export interface ModelRegistryOptions {
  env?: Record<string, string | undefined>;
  redactor?: Redactor;
  /** Where each entry came from, for error messages: id → e.g. `councils.yaml models[2]`. */
  origins?: ReadonlyMap<string, string>;
  /** Reads and re-reads API keys (default: `env:`, `file:` and `cmd:` references, see `createSecretStore`). */
  secrets?: SecretStore;
  /**
   * The circuit breakers of this registry's models, or options for new ones. Pass the previous
   * registry's `breakers` to keep breaker state across a reload.
   */
  breakers?: BreakerBoard | BreakerBoardOptions;
  /** Defaults of every provider model entry (an entry's own settings win, field by field). */
  defaults?: GatewayDefaults;
}

/** Harness-wide defaults of the gateway's per-model settings. YAML: the top-level `gateway:` map. */
export interface GatewayDefaults {
  timeouts?: ModelTimeouts;
  breaker?: Partial<BreakerOptions>;
  hedge?: HedgeOptions;
}

/**
 * What the gateway needs of one model id, worked out once per entry: its breakers, timeouts,
 * hedge and key pool. Internal to the gateway; read breakers through `ModelRegistry.breakers`.
 */
export interface ModelPlan {
  entry: ModelEntry;
  /** The provider breaker's key: `type endpoint` (undefined for ensembles and canaries). */
  providerKey: string | undefined;
  provider: Circuit | undefined;
  model: Circuit;
  /** Only when a timeout is set (no clock otherwise). */
  timeouts: ModelTimeouts | undefined;
  hedge: HedgeOptions | undefined;
  /** The entry's keys; undefined for keyless models. */
  pool: KeyPool | undefined;
}

export class ModelRegistry {
  readonly #entries = new Map<string, ModelEntry>();
  readonly #resolved = new Map<string, ResolvedModel>();
  readonly #embeddings = new Map<string, EmbeddingModelV4>();
  readonly #options: ModelRegistryOptions;
  /** Canary state files opened by this registry, by URL (one controller each). */
  readonly #canaries = new Map<string, CanaryController>();
  /** Canary ids being resolved: a canary reached again while building itself is a cycle. */
  readonly #resolvingCanaries = new Set<string>();
  /** Per id: its gateway plan (breakers, timeouts, hedge, key pool), built on first use. */
  readonly #plans = new Map<string, ModelPlan>();
  /** Per id and key slot: the model built with that key's current value. */
  readonly #keyed = new Map<string, Array<{ version: number; resolved: ResolvedModel } | undefined>>();
  readonly #secrets: SecretStore;
  /**
   * Circuit breakers per provider, model and key. `breakers.states()` is what `/health` shows,
   * `breakers.toJSON()` saves them, `breakers.onChange()` hears every transition.
   */
  readonly breakers: BreakerBoard;
  /** Recent time to first token and latency per model (the p95 hedging waits for). */
  readonly latency = new LatencyTracker();

  constructor(entries: readonly ModelEntry[] = [], options: ModelRegistryOptions = {}) {
    this.#options = options;
    this.#secrets =
      options.secrets ??
      createSecretStore({
        ...(options.env === undefined ? {} : { env: options.env }),
        ...(options.redactor === undefined ? {} : { redactor: options.redactor }),
      });
    this.breakers =
      options.breakers instanceof BreakerBoard ? options.breakers : new BreakerBoard(options.breakers);
    const defaults = options.defaults;
    if (defaults?.timeouts) checkTimeouts(defaults.timeouts, 'gateway.timeouts');
    if (defaults?.hedge) checkHedge(defaults.hedge, 'gateway.hedge');
    for (const entry of entries) this.add(entry);
  }

  /**
   * Adds or replaces an entry; a replaced entry's cached model is dropped, and so is every built
   * ensemble (its judge, embedder or cycle check may involve the entry).
   */
  add(entry: ModelEntry): void {
    if (entry.type !== 'ensemble' && entry.type !== 'canary') providerType(entry.type);
    const at = `ModelEntry[${JSON.stringify(entry.id)}]`;
    if (entry.timeouts) checkTimeouts(entry.timeouts, `${at}.timeouts`);
    if (entry.hedge) checkHedge(entry.hedge, `${at}.hedge`);
    if (entry.apiKeys !== undefined && entry.apiKeys.length === 0) {
      throw new HarnessError('config_invalid', `${at}.apiKeys is empty`, {
        location: { path: `${at}.apiKeys` },
        hint: 'list at least one credential reference, or leave apiKeys out',
      });
    }
    this.#entries.set(entry.id, entry);
    this.#resolved.delete(entry.id);
    this.#embeddings.delete(entry.id);
    this.#plans.delete(entry.id);
    this.#keyed.delete(entry.id);
    for (const [id, resolved] of this.#resolved)
      if (resolved.entry.type === 'ensemble') this.#resolved.delete(id);
  }

  ids(): string[] {
    return [...this.#entries.keys()];
  }

  has(id: string): boolean {
    return this.#entries.has(id);
  }

  /** The entry for `id`; an unknown id is `unknown_model` with a did-you-mean. */
  entry(id: string): ModelEntry {
    const entry = this.#entries.get(id);
    if (!entry) throw unknownModel(id, this.ids());
    return entry;
  }

  /**
   * The entry and its AI SDK model, built (and its key resolved) on first use. An `ensemble`
   * entry is built over this registry's models (see `ensembleFromRegistry`): its members are
   * resolved now, and an ensemble that contains itself is `config_invalid`. A model with API keys
   * is built with `key` (a slot of its pool, see {@link ModelRegistry.plan}), by default the
   * pool's first live key, and built again when that key's value rotates.
   */
  resolve(id: string, key?: KeySlot): ResolvedModel {
    const cached = key === undefined ? this.#resolved.get(id) : undefined;
    if (cached) return cached;
    const entry = this.entry(id);
    if (entry.type !== 'ensemble' && entry.type !== 'canary') {
      // A model with keys is built per key (and rebuilt when a key rotates): without a slot, the
      // pool's first live key.
      const pool = this.plan(id).pool;
      if (pool)
        return this.#resolveKeyed(id, key ?? pool.slots.find((s) => !s.dead) ?? (pool.slots[0] as KeySlot));
    }
    const resolved = {
      entry,
      model:
        entry.type === 'ensemble'
          ? ensembleFromRegistry(this, entry, {
              costOf: (member, input, output) =>
                this.has(member) ? costUsd(this.entry(member), input, output) : 0,
              ...(this.#options.redactor === undefined ? {} : { redactor: this.#options.redactor }),
            })
          : entry.type === 'canary'
            ? this.#canary(entry)
            : providerType(entry.type).create({ entry, apiKey: this.#apiKey(entry) }),
    };
    this.#resolved.set(id, resolved);
    return resolved;
  }

  /** The model built with one key of the entry's pool, rebuilt when that key's value changes. */
  #resolveKeyed(id: string, key: KeySlot): ResolvedModel {
    let built = this.#keyed.get(id);
    const cached = built?.[key.index];
    if (cached && cached.version === key.version) return cached.resolved;
    const plan = this.plan(id);
    const pool = plan.pool;
    if (!pool) return this.resolve(id);
    // Read the value first: a missing key fails before anything is cached.
    const apiKey = pool.value(key);
    const version = key.version;
    const resolved = {
      entry: plan.entry,
      model: providerType(plan.entry.type).create({ entry: plan.entry, apiKey }),
    };
    if (!built) {
      built = [];
      this.#keyed.set(id, built);
    }
    built[key.index] = { version, resolved };
    return resolved;
  }

  /**
   * The gateway's view of model `id`: its breakers (provider, model), timeouts and hedge with the
   * registry defaults applied, and its key pool. Built once per entry; `unknown_model` for an
   * unknown id.
   */
  plan(id: string): ModelPlan {
    const cached = this.#plans.get(id);
    if (cached) return cached;
    const entry = this.entry(id);
    const defaults = this.#options.defaults;
    const composite = entry.type === 'ensemble' || entry.type === 'canary';
    const breakerOptions =
      defaults?.breaker === undefined ? entry.breaker : { ...defaults.breaker, ...entry.breaker };
    const timeouts = composite ? entry.timeouts : { ...defaults?.timeouts, ...entry.timeouts };
    const providerKey = composite ? undefined : `${entry.type} ${entry.endpoint ?? 'default'}`;
    const refs =
      entry.apiKeys ?? (credentialRef(entry) === undefined ? [] : [credentialRef(entry) as string]);
    const owner = this.#owner(id);
    const pool =
      refs.length === 0
        ? undefined
        : new KeyPool({
            owner,
            model: id,
            refs,
            store: this.#secrets,
            readSync: (ref) => this.#readKey(ref, owner),
            ...(breakerOptions?.halfOpenAfterMs === undefined
              ? {}
              : { recheckMs: breakerOptions.halfOpenAfterMs }),
            // With one key its breaker would only repeat the model's; with several, rate limits are per key.
            ...(refs.length > 1
              ? { circuit: (ref: string) => this.breakers.get('key', `${id} ${ref}`, breakerOptions) }
              : {}),
          });
    const plan: ModelPlan = {
      entry,
      providerKey,
      provider:
        providerKey === undefined ? undefined : this.breakers.get('provider', providerKey, breakerOptions),
      model: this.breakers.get('model', id, breakerOptions),
      timeouts: hasTimeouts(timeouts) ? timeouts : undefined,
      hedge: entry.hedge ?? (composite ? undefined : defaults?.hedge),
      pool,
    };
    this.#plans.set(id, plan);
    return plan;
  }

  /** The keys of model `id` and their state (references only, never values); empty for keyless models. */
  keys(id: string): KeyStatus[] {
    return this.plan(id).pool?.status() ?? [];
  }

  /** The entry as an AI SDK embedding model; `unknown_model` if its provider has no embeddings. */
  resolveEmbedding(id: string): EmbeddingModelV4 {
    const cached = this.#embeddings.get(id);
    if (cached) return cached;
    const entry = this.entry(id);
    const type = entry.type === 'ensemble' || entry.type === 'canary' ? undefined : providerType(entry.type);
    if (!type?.createEmbedding) {
      throw new HarnessError('unknown_model', `model "${id}" (type ${entry.type}) cannot make embeddings`, {
        hint: 'pick an embedding model: openai text-embedding-3-small, a google embedding model, an Ollama embedding model, or type simulated',
        details: { model: id },
      });
    }
    const model = type.createEmbedding({ entry, apiKey: this.#apiKey(entry) });
    this.#embeddings.set(id, model);
    return model;
  }

  /**
   * An {@link Embedder} for memory: embeds texts with model `id` through the AI SDK. Provider
   * failures are `provider_error`s with every known secret redacted.
   */
  embedder(id: string): Embedder {
    const model = this.resolveEmbedding(id);
    return async (texts, options) => {
      if (texts.length === 0) return [];
      try {
        const result = await embedMany({
          model,
          values: texts,
          maxRetries: 0,
          ...(options?.signal === undefined ? {} : { abortSignal: options.signal }),
        });
        return result.embeddings;
      } catch (error) {
        throw toProviderError(error, id, this.#options.redactor, options?.signal);
      }
    };
  }

  /**
   * The canary controller of a `type: canary` entry: the one of its `canary.state` file (default
   * `$FORGE_CANARY_URL`, else `sqlite://.forge/canary.db`), opened once per file by this registry.
   * Its `onDecision` listeners hear the canary's promotions and rollbacks; `state()` shows it.
   */
  canaryController(id: string): CanaryController {
    const entry = this.entry(id);
    if (entry.type !== 'canary') {
      throw new HarnessError('config_invalid', `model "${id}" is not a canary (type ${entry.type})`, {
        hint: 'pass the id of a type: canary model',
        details: { model: id },
      });
    }
    const url =
      entry.canary?.state ?? (this.#options.env ?? process.env).FORGE_CANARY_URL ?? defaultCanaryUrl;
    let controller = this.#canaries.get(url);
    if (!controller) {
      controller = new CanaryController({ path: url });
      this.#canaries.set(url, controller);
    }
    return controller;
  }

  #canary(entry: ModelEntry): LanguageModelV4 {
    if (this.#resolvingCanaries.has(entry.id)) {
      throw new HarnessError('config_invalid', `canary "${entry.id}" contains itself through its models`, {
        location: { path: `ModelEntry(${entry.id}).canary` },
        hint: 'a canary cannot be its own stable or candidate model, directly or through an ensemble or another canary',
        details: { model: entry.id },
      });
    }
    this.#resolvingCanaries.add(entry.id);
    try {
      return canaryFromRegistry(this, entry, this.canaryController(entry.id), {
        costOf: (model, input, output) => (this.has(model) ? costUsd(this.entry(model), input, output) : 0),
      });
    } finally {
      this.#resolvingCanaries.delete(entry.id);
    }
  }

  #owner(id: string): string {
    const origin = this.#options.origins?.get(id);
    return `model "${id}"${origin ? ` (${origin})` : ''}`;
  }

  #readKey(ref: string, owner: string): string {
    return resolveCredential(ref, {
      owner,
      ...(this.#options.env === undefined ? {} : { env: this.#options.env }),
      ...(this.#options.redactor === undefined ? {} : { redactor: this.#options.redactor }),
    });
  }

  /** The key the model is built with when no pool slot is given: the pool's first live key. */
  #apiKey(entry: ModelEntry): string | undefined {
    const pool = this.plan(entry.id).pool;
    if (!pool) return undefined;
    const slot = pool.slots.find((s) => !s.dead) ?? pool.slots[0];
    return slot === undefined ? undefined : pool.value(slot);
  }
}

/**
 * The entry's (first) key reference: its `api_key` (the first of `api_keys`), else
 * `env:<the type's default variable>`, else none.
 */
export function credentialRef(entry: ModelEntry): string | undefined {
  // An ensemble has no key of its own; its members have theirs.
  if (entry.type === 'ensemble') return undefined;
  // Nor has a canary: its stable and candidate models have theirs.
  if (entry.type === 'canary') return undefined;
  const variable = providerType(entry.type).defaultKeyEnv;
  return entry.apiKeys?.[0] ?? entry.apiKey ?? (variable === undefined ? undefined : `env:${variable}`);
}

/** `unknown_model` with a did-you-mean among the known ids. */
export function unknownModel(id: string, known: readonly string[]): HarnessError {
  const guess = didYouMean(id, known);
  return new HarnessError('unknown_model', `unknown model id "${id}"`, {
    hint: guess
      ? `did you mean "${guess}"?`
      : known.length
        ? `known model ids: ${known.join(', ')}`
        : 'add it under `models:` in your config',
    details: { model: id },
  });
}

/** USD cost of a call from the entry's `pricePerMtok` (0 when prices are unknown). */
export function costUsd(entry: ModelEntry, inputTokens: number, outputTokens: number): number {
  const price = entry.pricePerMtok;
  if (!price) return 0;
  return (inputTokens * price.input + outputTokens * price.output) / 1_000_000;
}
