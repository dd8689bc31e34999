/**
 * `Memory`, the memory object users hand to agents: a {@link MemoryStore} that opens its backend from
 * a URL on first use, so building an agent (or a config) never does I/O and a store that is never
 * used is never opened.
 */

import { throwIfAborted } from '../errors.ts';
import { redactUrl } from './redact.ts';
import { openMemoryStore, parseMemoryUrl } from './registry.ts';
import type {
  CallOptions,
  MemoryDocumentInput,
  MemoryMessage,
  MemoryMessageInput,
  MemoryNamespace,
  MemoryStore,
  ReadOptions,
  RecallHit,
  RecallOptions,
  SetOptions,
} from './store.ts';
import { memoryError } from './validation.ts';

/** Options of {@link Memory}: a URL to open lazily, or a store already built. Not both. */
export interface MemoryOptions {
  /** A memory URL such as `sqlite://./data/app.db`; default `memory://` when `store` is absent too. */
  url?: string;
  /** A store to use as it is (e.g. built with options a URL cannot carry); `close()` closes it. */
  store?: MemoryStore;
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

  /**
   * Never does I/O and never throws for a URL that parses; an unknown scheme or an unusable path is
   * reported by the first call.
   *
   * @throws HarnessError `memory_error` when both `url` and `store` are given or the URL does not parse.
   */
  constructor(options: MemoryOptions = {}) {
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

  /** {@inheritDoc MemoryStore.append} */
  async append(
    ns: MemoryNamespace,
    message: MemoryMessageInput,
    options?: CallOptions,
  ): Promise<MemoryMessage> {
    return (await this.open(options)).append(ns, message, options);
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

  /** {@inheritDoc MemoryStore.remember} */
  async remember(ns: MemoryNamespace, doc: MemoryDocumentInput, options?: CallOptions): Promise<string> {
    return (await this.open(options)).remember(ns, doc, options);
  }

  /** {@inheritDoc MemoryStore.recall} */
  async recall(ns: MemoryNamespace, query: string, options?: RecallOptions): Promise<RecallHit[]> {
    return (await this.open(options)).recall(ns, query, options);
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
