/**
 * The `MemoryStore` contract: what every memory backend (in-memory, SQLite, and later Redis, Postgres,
 * LMDB) implements and what the conformance suite in `test/memory-conformance.ts` checks. Core code
 * depends on this file only, never on a backend.
 */

/**
 * The isolation unit of memory. Two namespaces that differ in any part never see each other's
 * messages, keys or documents. An absent `agent` is a namespace of its own (memory shared by the
 * council), not a wildcard over the council's agents.
 */
export interface MemoryNamespace {
  /** Tenant; default `'default'`. */
  tenant?: string;
  /** Council name; required. */
  council: string;
  /** Agent name; absent for council-wide memory. */
  agent?: string;
}

/** Who wrote a message, as in chat transcripts. */
export type MemoryRole = 'system' | 'user' | 'assistant' | 'tool';

/** One entry of a namespace's conversation log. */
export interface MemoryMessage {
  /** Position in the namespace's log: 1 for the first message, then +1 per append, never reused. */
  seq: number;
  role: MemoryRole;
  content: string;
  /** When the store appended it, epoch milliseconds. */
  at: number;
  /** JSON metadata given to `append`; absent when none was given. */
  meta?: Record<string, unknown>;
}

/** A text stored for recall. */
export interface MemoryDocument {
  id: string;
  text: string;
  /** JSON metadata; `recall` can filter on its top-level string, number and boolean values. */
  meta?: Record<string, unknown>;
}

/** A recalled document and its relevance to the query. */
export interface RecallHit extends MemoryDocument {
  /** Relevance; higher is better, always > 0. Only comparable between hits of one call. */
  score: number;
}

/** Options every store method takes. */
export interface CallOptions {
  /** Aborts the call; an already aborted signal rejects with HarnessError code `aborted` and writes nothing. */
  signal?: AbortSignal;
}

/** The message `append` takes; the store assigns `seq` and `at`. */
export interface MemoryMessageInput {
  role: MemoryRole;
  content: string;
  /** JSON metadata (a plain object); anything not JSON-serialisable is a `memory_error`. */
  meta?: Record<string, unknown>;
}

/** The document `remember` takes. */
export interface MemoryDocumentInput {
  /** Stable id; a document with the same id in the namespace is replaced. Generated when absent. */
  id?: string;
  text: string;
  /** JSON metadata (a plain object); anything not JSON-serialisable is a `memory_error`. */
  meta?: Record<string, unknown>;
}

/** Options of {@link MemoryStore.read}. */
export interface ReadOptions extends CallOptions {
  /** How many of the latest messages to return; default 50, 0 returns none. */
  limit?: number;
}

/** Options of {@link MemoryStore.set}. */
export interface SetOptions extends CallOptions {
  /** Time to live in milliseconds (> 0); the key reads as undefined once it has passed. Default: never expires. */
  ttlMs?: number;
}

/** Options of {@link MemoryStore.recall}. */
export interface RecallOptions extends CallOptions {
  /** How many hits at most; default 5. */
  k?: number;
  /** Only documents whose meta has every one of these top-level values (compared with `===`). */
  filter?: Record<string, string | number | boolean>;
}

/**
 * A memory backend. All values (`set` values, `meta`) must be JSON-serialisable: anything else
 * (function, BigInt, cycle, non-finite number, top-level undefined, Map/Set/class instances) rejects
 * with HarnessError `memory_error` naming the key and the problem, and nothing is written. Values read
 * back are fresh copies, never the object that was stored. Every method honours `signal`; every
 * failure is a HarnessError (`memory_error`, `aborted`).
 */
export interface MemoryStore {
  /** The URL with any password replaced by `***`. */
  readonly url: string;
  /** Appends a message to the namespace's log and returns it with its `seq` and `at`. */
  append(ns: MemoryNamespace, message: MemoryMessageInput, options?: CallOptions): Promise<MemoryMessage>;
  /** The last `limit` messages (default 50) in chronological order. */
  read(ns: MemoryNamespace, options?: ReadOptions): Promise<MemoryMessage[]>;
  /** The value of `key`, or undefined when it was never set, was deleted or has expired. */
  get<T = unknown>(ns: MemoryNamespace, key: string, options?: CallOptions): Promise<T | undefined>;
  /** Sets `key` to a JSON-serialisable value, replacing any value and TTL it had. */
  set(ns: MemoryNamespace, key: string, value: unknown, options?: SetOptions): Promise<void>;
  /** Removes `key`; true when there was a live (unexpired) value. */
  delete(ns: MemoryNamespace, key: string, options?: CallOptions): Promise<boolean>;
  /** Stores (or replaces, same id) a document for recall; returns its id (generated when absent). */
  remember(ns: MemoryNamespace, doc: MemoryDocumentInput, options?: CallOptions): Promise<string>;
  /** Top-k documents by relevance to `query` (default k = 5), best first; only documents with score > 0. */
  recall(ns: MemoryNamespace, query: string, options?: RecallOptions): Promise<RecallHit[]>;
  /** Checks the store can serve (used by health probes). */
  ping(options?: CallOptions): Promise<void>;
  /** Releases the backend; later calls reject with `memory_error`. Closing twice is allowed. */
  close(): Promise<void>;
}

/** Options shared by the embedded backends' factories. */
export interface EmbeddedStoreOptions {
  /**
   * The clock for message `at` and TTL expiry, epoch milliseconds; default `Date.now`.
   * Tests inject one to expire keys without waiting.
   */
  now?: () => number;
}
