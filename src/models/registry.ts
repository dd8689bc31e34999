/**
 * The model registry: ids → entries (metadata, prices, capabilities) → AI SDK models, built
 * once and cached. Credentials are resolved when a model is first prepared; a missing one is a
 * `missing_credential` error naming the variable, never a value.
 */
import type { EmbeddingModelV4, LanguageModelV4 } from '@ai-sdk/provider';
import { embedMany } from 'ai';
import { didYouMean } from '../config/did-you-mean.ts';
import { HarnessError } from '../errors.ts';
import { ensembleFromRegistry } from '../gateway/ensemble.ts';
import { toProviderError } from '../gateway/provider-error.ts';
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

  constructor(entries: readonly ModelEntry[] = [], options: ModelRegistryOptions = {}) {
    this.#options = options;
    for (const entry of entries) this.add(entry);
  }

  /**
   * Adds or replaces an entry; a replaced entry's cached model is dropped, and so is every built
   * ensemble (its judge, embedder or cycle check may involve the entry).
   */
  add(entry: ModelEntry): void {
    if (entry.type !== 'ensemble' && entry.type !== 'canary') providerType(entry.type);
    this.#entries.set(entry.id, entry);
    this.#resolved.delete(entry.id);
    this.#embeddings.delete(entry.id);
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
   * resolved now, and an ensemble that contains itself is `config_invalid`.
   */
  resolve(id: string): ResolvedModel {
    const cached = this.#resolved.get(id);
    if (cached) return cached;
    const entry = this.entry(id);
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

  #apiKey(entry: ModelEntry): string | undefined {
    const id = entry.id;
    const ref = credentialRef(entry);
    const origin = this.#options.origins?.get(id);
    const owner = `model "${id}"${origin ? ` (${origin})` : ''}`;
    const apiKey =
      ref === undefined
        ? undefined
        : resolveCredential(ref, {
            owner,
            ...(this.#options.env === undefined ? {} : { env: this.#options.env }),
            ...(this.#options.redactor === undefined ? {} : { redactor: this.#options.redactor }),
          });
    return apiKey;
  }
}

/** The entry's key reference: its `api_key`, else `env:<the type's default variable>`, else none. */
export function credentialRef(entry: ModelEntry): string | undefined {
  // An ensemble has no key of its own; its members have theirs.
  if (entry.type === 'ensemble') return undefined;
  // Nor has a canary: its stable and candidate models have theirs.
  if (entry.type === 'canary') return undefined;
  const variable = providerType(entry.type).defaultKeyEnv;
  return entry.apiKey ?? (variable === undefined ? undefined : `env:${variable}`);
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
