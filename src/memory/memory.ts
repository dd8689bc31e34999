/**
 * `Memory`, the memory object users hand to agents: a {@link MemoryStore} that opens its backend from
 * a URL on first use, so building an agent (or a config) never does I/O and a store that is never
 * used is never opened. On top of the store it can embed documents and queries (semantic recall
 * with no extra code) and keep a rolling summary of each conversation.
 */

import { HarnessError, throwIfAborted } from '../errors.ts';
import { redactUrl } from './redact.ts';
import { openMemoryStore, parseMemoryUrl } from './registry.ts';
import type {
  CallOptions,
  LoadOptions,
  MemoryDocumentInput,
  MemoryMessage,
  MemoryMessageInput,
  MemoryNamespace,
  MemoryRecord,
  MemoryStats,
  MemoryStore,
  ReadOptions,
  RecallHit,
  RecallOptions,
  SetOptions,
} from './store.ts';
import { checkLimit, memoryError, resolveNamespace } from './validation.ts';

/**
 * Turns texts into vectors, one per text in the same order, all of one dimension (e.g. a registry
 * embedding model). Rejections pass through `remember`/`recall`; a non-HarnessError becomes
 * `memory_error`.
 */
export type Embedder = (
  texts: string[],
  options?: { signal?: AbortSignal | undefined },
) => Promise<number[][]>;

/**
 * Writes a summary of a conversation: `messages` are the ones not yet summarised (oldest first),
 * `previous` the summary so far (absent the first time). Returns the new summary, which replaces it.
 */
export type Summarizer = (
  messages: MemoryMessage[],
  previous: string | undefined,
  options: { signal?: AbortSignal },
) => Promise<string>;

/** The `summarize` option of {@link Memory}. */
export interface MemorySummaryOptions {
  /** Summarise after every append whose seq is a multiple of this (a whole number ≥ 1). */
  every: number;
  /**
   * How many of the latest messages stay out of the summary (a whole number ≥ 0, default 0), so
   * {@link Memory.context} always shows them verbatim: at seq n the summary covers up to n − keep.
   */
  keep?: number;
  /** The hook that writes the summary. */
  summarize: Summarizer;
}

/** Options of {@link Memory}: a URL to open lazily, or a store already built. Not both. */
export interface MemoryOptions {
  /** A memory URL such as `sqlite://./data/app.db`; default `memory://` when `store` is absent too. */
  url?: string;
  /** A store to use as it is (e.g. built with options a URL cannot carry); `close()` closes it. */
  store?: MemoryStore;
  /**
   * When set, `remember` fills a document's `embedding` from its text and `recall` fills
   * `options.embedding` from a non-blank query, unless the caller gave one; recall is then by cosine
   * similarity, so documents stored without an embedding (e.g. loaded from elsewhere) are not found.
   * `load` stores records as they are.
   */
  embedder?: Embedder;
  /**
   * Rolling conversation summary, kept in the namespace's key {@link SUMMARY_KEY} as
   * {@link StoredSummary}. After an append whose seq is a multiple of `every`, the hook gets the
   * messages since the last summary (up to seq − keep) and the previous summary; the append resolves
   * once the new summary is stored. A failing (or aborted) hook never fails the append: its error is
   * kept ({@link Memory.summaryError}) and the next append to that namespace through this `Memory`
   * tries again, whatever its seq. Summaries of one namespace run one at a time.
   */
  summarize?: MemorySummaryOptions;
}

/** The kv key where {@link Memory} keeps a namespace's summary (so `dump` and `stats` include it). */
export const SUMMARY_KEY = '__summary__';

/** What {@link Memory} stores under {@link SUMMARY_KEY}. */
export interface StoredSummary {
  text: string;
  /** The last seq the summary covers. */
  uptoSeq: number;
}

/** Options of {@link Memory.context}. */
export interface ContextOptions extends CallOptions {
  /** How many of the latest unsummarised messages at most; default 50. */
  limit?: number;
}

/** What {@link Memory.context} returns: what an agent needs to continue a conversation. */
export interface MemoryContext {
  /** The rolling summary, when one has been written. */
  summary?: string;
  /** The last `limit` messages after the summary, oldest first. */
  messages: MemoryMessage[];
}

/**
 * A {@link MemoryStore} that opens its backend on first use. The first call opens it through
 * {@link openMemoryStore} and every call made meanwhile shares that one opening (single-flight);
 * a failed opening is not cached, so the next call tries again (a health probe can see a store
 * recover). Closing is final.
 *
 * @example
 * const memory = new Memory({ url: 'sqlite://./data/app.db' });
 * await memory.append({ council: 'support' }, { role: 'user', content: 'hi' });
 */
export class Memory implements MemoryStore {
  /** The URL with any password replaced by `***`. */
  readonly url: string;
  readonly #rawUrl: string | undefined;
  #store: MemoryStore | undefined;
  #opening: Promise<MemoryStore> | undefined;
  #closed = false;
  readonly #embedder: Embedder | undefined;
  readonly #summary: Required<MemorySummaryOptions> | undefined;
  /** Per namespace: the summary in flight (chained, so one runs at a time). */
  readonly #summaries = new Map<string, Promise<void>>();
  /** Per namespace: the last summary failure, cleared by a success. */
  readonly #summaryErrors = new Map<string, unknown>();

  /**
   * Never does I/O and never throws for a URL that parses; an unknown scheme or an unusable path is
   * reported by the first call.
   *
   * @throws HarnessError `memory_error` when both `url` and `store` are given, the URL does not parse,
   * or `embedder`/`summarize` are not what they should be.
   */
  constructor(options: MemoryOptions = {}) {
    if (options.embedder !== undefined && typeof options.embedder !== 'function') {
      throw memoryError('Memory embedder must be a function (texts, { signal }) => Promise<number[][]>');
    }
    this.#embedder = options.embedder;
    this.#summary = options.summarize === undefined ? undefined : checkSummaryOptions(options.summarize);
    if (options.url !== undefined && options.store !== undefined) {
      throw memoryError(`give Memory either url or store, not both (url "${redactUrl(options.url)}")`, {
        hint: 'drop url: a store already knows where it keeps its data',
      });
    }
    if (options.store !== undefined) {
      this.#store = options.store;
      this.#rawUrl = undefined;
      this.url = options.store.url;
    } else {
      const raw = options.url ?? 'memory://';
      parseMemoryUrl(raw);
      this.#rawUrl = raw;
      this.url = redactUrl(raw);
    }
  }

  /** A `Memory` for a URL or store; returns the argument itself when it already is a `Memory`. */
  static from(source: string | MemoryStore): Memory {
    if (source instanceof Memory) return source;
    return typeof source === 'string' ? new Memory({ url: source }) : new Memory({ store: source });
  }

  /** True once the backend has been opened (for diagnostics and tests; it says nothing about health). */
  get isOpen(): boolean {
    return this.#store !== undefined && !this.#closed;
  }

  /**
   * The backend store, opened on the first call.
   *
   * @throws HarnessError `aborted`, `unknown_memory_scheme`, or `memory_error` (also after `close()`).
   */
  async open(options: CallOptions = {}): Promise<MemoryStore> {
    throwIfAborted(options.signal);
    if (this.#closed) {
      throw memoryError(`memory ${this.url} is closed`, {
        hint: 'create a new Memory; a closed one cannot be reused',
      });
    }
    if (this.#store !== undefined) return this.#store;
    this.#opening ??= openMemoryStore(this.#rawUrl ?? this.url).then(
      (store) => {
        this.#store = store;
        this.#opening = undefined;
        return store;
      },
      (error: unknown) => {
        this.#opening = undefined;
        throw error;
      },
    );
    const store = await this.#opening;
    throwIfAborted(options.signal);
    return store;
  }

  /**
   * {@inheritDoc MemoryStore.append}
   * With `summarize`, resolves after the summary due at this seq is stored (or has failed).
   */
  async append(
    ns: MemoryNamespace,
    message: MemoryMessageInput,
    options?: CallOptions,
  ): Promise<MemoryMessage> {
    const store = await this.open(options);
    const appended = await store.append(ns, message, options);
    const summary = this.#summary;
    if (summary !== undefined) {
      const key = namespaceKey(ns);
      if (appended.seq % summary.every === 0 || this.#summaryErrors.has(key)) {
        await this.#summarizeAfter(store, ns, key, appended.seq, summary, options?.signal);
      }
    }
    return appended;
  }

  /** The last error of the summary hook for this namespace, or undefined when the last run succeeded. */
  summaryError(ns: MemoryNamespace): unknown {
    return this.#summaryErrors.get(namespaceKey(ns));
  }

  /**
   * The conversation as an agent should see it: the rolling summary (when `summarize` has written
   * one) and the last `limit` messages it does not cover.
   */
  async context(ns: MemoryNamespace, options: ContextOptions = {}): Promise<MemoryContext> {
    const limit = checkLimit(options.limit);
    const store = await this.open(options);
    const stored = readSummary(await store.get(ns, SUMMARY_KEY, callOptions(options.signal)));
    const messages = await store.read(ns, { limit, ...callOptions(options.signal) });
    const after = stored === undefined ? messages : messages.filter((m) => m.seq > stored.uptoSeq);
    return { ...(stored === undefined ? {} : { summary: stored.text }), messages: after };
  }

  /** Runs the summary due after `seq`, one at a time per namespace; never rejects. */
  async #summarizeAfter(
    store: MemoryStore,
    ns: MemoryNamespace,
    key: string,
    seq: number,
    summary: Required<MemorySummaryOptions>,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const previous = this.#summaries.get(key) ?? Promise.resolve();
    const run = previous.then(async () => {
      try {
        await summarizeOnce(store, ns, seq - summary.keep, summary.summarize, signal);
        this.#summaryErrors.delete(key);
      } catch (error) {
        this.#summaryErrors.set(key, error);
      }
    });
    this.#summaries.set(key, run);
    await run;
    if (this.#summaries.get(key) === run) this.#summaries.delete(key);
  }

  /** {@inheritDoc MemoryStore.read} */
  async read(ns: MemoryNamespace, options?: ReadOptions): Promise<MemoryMessage[]> {
    return (await this.open(options)).read(ns, options);
  }

  /** {@inheritDoc MemoryStore.get} */
  async get<T = unknown>(ns: MemoryNamespace, key: string, options?: CallOptions): Promise<T | undefined> {
    return (await this.open(options)).get<T>(ns, key, options);
  }

  /** {@inheritDoc MemoryStore.set} */
  async set(ns: MemoryNamespace, key: string, value: unknown, options?: SetOptions): Promise<void> {
    return (await this.open(options)).set(ns, key, value, options);
  }

  /** {@inheritDoc MemoryStore.delete} */
  async delete(ns: MemoryNamespace, key: string, options?: CallOptions): Promise<boolean> {
    return (await this.open(options)).delete(ns, key, options);
  }

  /** {@inheritDoc MemoryStore.remember} With an `embedder`, fills `embedding` from the text when absent. */
  async remember(ns: MemoryNamespace, doc: MemoryDocumentInput, options?: CallOptions): Promise<string> {
    const store = await this.open(options);
    const embedder = this.#embedder;
    if (embedder === undefined || doc?.embedding !== undefined || typeof doc?.text !== 'string') {
      return store.remember(ns, doc, options);
    }
    resolveNamespace(ns);
    const embedding = await embedOne(embedder, doc.text, options?.signal);
    return store.remember(ns, { ...doc, embedding }, options);
  }

  /**
   * {@inheritDoc MemoryStore.recall}
   * With an `embedder`, fills `options.embedding` from a non-blank `query` when absent.
   */
  async recall(ns: MemoryNamespace, query: string, options?: RecallOptions): Promise<RecallHit[]> {
    const store = await this.open(options);
    const embedder = this.#embedder;
    if (
      embedder === undefined ||
      options?.embedding !== undefined ||
      typeof query !== 'string' ||
      query.trim() === ''
    ) {
      return store.recall(ns, query, options);
    }
    resolveNamespace(ns);
    const embedding = await embedOne(embedder, query, options?.signal);
    return store.recall(ns, query, { ...options, embedding });
  }

  /** {@inheritDoc MemoryStore.dump} */
  async *dump(ns: MemoryNamespace, options?: CallOptions): AsyncGenerator<MemoryRecord> {
    yield* (await this.open(options)).dump(ns, options);
  }

  /** {@inheritDoc MemoryStore.load} */
  async load(
    ns: MemoryNamespace,
    records: Iterable<MemoryRecord> | AsyncIterable<MemoryRecord>,
    options?: LoadOptions,
  ): Promise<number> {
    return (await this.open(options)).load(ns, records, options);
  }

  /** {@inheritDoc MemoryStore.stats} */
  async stats(ns: MemoryNamespace, options?: CallOptions): Promise<MemoryStats> {
    return (await this.open(options)).stats(ns, options);
  }

  /** Opens the backend if needed and pings it, so a health probe also reports a store that cannot open. */
  async ping(options?: CallOptions): Promise<void> {
    return (await this.open(options)).ping(options);
  }

  /** Closes the backend if it was opened (waiting for an opening in flight); later calls reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const store = this.#store ?? (await this.#opening?.catch(() => undefined));
    this.#store = undefined;
    await store?.close();
  }
}

function callOptions(signal: AbortSignal | undefined): CallOptions {
  return signal === undefined ? {} : { signal };
}

function namespaceKey(ns: MemoryNamespace): string {
  const { tenant, council, agent } = resolveNamespace(ns);
  return JSON.stringify([tenant, council, agent]);
}

function checkSummaryOptions(options: MemorySummaryOptions): Required<MemorySummaryOptions> {
  const { every, keep = 0, summarize } = options ?? ({} as MemorySummaryOptions);
  if (typeof every !== 'number' || !Number.isInteger(every) || every < 1) {
    throw memoryError(`Memory summarize.every must be a whole number ≥ 1, got ${String(every)}`, {
      hint: 'for example summarize: { every: 20, summarize: async (messages, previous) => ... }',
    });
  }
  if (typeof keep !== 'number' || !Number.isInteger(keep) || keep < 0) {
    throw memoryError(`Memory summarize.keep must be a whole number ≥ 0, got ${String(keep)}`, {
      hint: 'leave keep out to summarise every message up to the one just appended',
    });
  }
  if (typeof summarize !== 'function') {
    throw memoryError(
      'Memory summarize.summarize must be a function (messages, previous, { signal }) => Promise<string>',
    );
  }
  return { every, keep, summarize };
}

/** The stored summary, or undefined when there is none (or it is not one, e.g. a user wrote the key). */
function readSummary(value: unknown): StoredSummary | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { text, uptoSeq } = value as Partial<StoredSummary>;
  if (typeof text !== 'string' || typeof uptoSeq !== 'number') return undefined;
  return { text, uptoSeq };
}

/** Summarises the messages after the stored summary up to `upto`, and stores the result. */
async function summarizeOnce(
  store: MemoryStore,
  ns: MemoryNamespace,
  upto: number,
  summarize: Summarizer,
  signal: AbortSignal | undefined,
): Promise<void> {
  const options = callOptions(signal);
  const previous = readSummary(await store.get(ns, SUMMARY_KEY, options));
  const from = previous?.uptoSeq ?? 0;
  if (upto <= from) return;
  // read() gives the latest messages; appends after `upto` may have landed since, so widen the window
  // until it reaches back to the first unsummarised seq (or the log's start).
  let limit = upto - from;
  let window: MemoryMessage[];
  for (;;) {
    window = await store.read(ns, { limit, ...options });
    if (window.length < limit || (window[0]?.seq ?? 0) <= from + 1) break;
    limit *= 2;
  }
  const messages = window.filter((m) => m.seq > from && m.seq <= upto);
  const text = await summarize(messages, previous?.text, options);
  throwIfAborted(signal);
  if (typeof text !== 'string') {
    throw memoryError(`the summarize hook returned ${typeof text}, not a string`, {
      hint: 'return the new summary text from summarize(messages, previous)',
    });
  }
  await store.set(ns, SUMMARY_KEY, { text, uptoSeq: upto } satisfies StoredSummary, options);
}

/** Embeds one text, checking the embedder returned one vector. */
async function embedOne(
  embedder: Embedder,
  text: string,
  signal: AbortSignal | undefined,
): Promise<number[]> {
  throwIfAborted(signal);
  let vectors: unknown;
  try {
    vectors = await embedder([text], callOptions(signal));
  } catch (error) {
    throwIfAborted(signal);
    if (HarnessError.isInstance(error)) throw error;
    throw memoryError(
      `the Memory embedder failed: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
        hint: 'check the embedding model; nothing was written',
      },
    );
  }
  throwIfAborted(signal);
  if (!Array.isArray(vectors) || vectors.length !== 1) {
    throw memoryError(
      `the Memory embedder returned ${Array.isArray(vectors) ? `${vectors.length} vectors` : typeof vectors} for 1 text`,
      { hint: 'an embedder returns one vector per text, in order; nothing was written' },
    );
  }
  return vectors[0] as number[];
}
