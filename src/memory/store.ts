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
  /**
   * Relevance; higher is better. Lexical recall: BM25, always > 0, only comparable between hits of one
   * call. Vector recall: cosine similarity in [-1, 1].
   */
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
  /**
   * Vector for semantic recall (finite numbers, length ≥ 1, not all zero). A namespace takes one
   * dimension, the length of the embeddings it holds: the first embedded document fixes it, and a
   * vector of another length (also one replacing a document of the same id) is a `memory_error`
   * naming both lengths, with nothing written. The dimension is free again once no document of the
   * namespace has an embedding (e.g. after a `replace` load). Backends may store it as float32.
   * `Memory` fills this from its embedder.
   */
  embedding?: readonly number[];
}

/** A stored document as `dump` returns it. */
export interface StoredDocument extends MemoryDocument {
  embedding?: number[];
}

/**
 * One record of a namespace as exported by `dump` and taken by `load` (JSON lines in the CLI).
 * Optional fields are absent, never `undefined`, when there is nothing to say.
 */
export type MemoryRecord =
  | {
      kind: 'message';
      seq: number;
      role: MemoryRole;
      content: string;
      at: number;
      meta?: Record<string, unknown>;
    }
  | { kind: 'kv'; key: string; value: unknown /** Epoch ms, absent = never. */; expiresAt?: number }
  | { kind: 'document'; id: string; text: string; meta?: Record<string, unknown>; embedding?: number[] };

/** Counts of what a namespace holds. */
export interface MemoryStats {
  messages: number;
  /** Live (unexpired) keys. */
  keys: number;
  documents: number;
  /** Dimension of the namespace's embeddings, when any document has one. */
  dimension?: number;
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
  /**
   * The query's vector. When given, hits are the embedded documents ranked by cosine similarity
   * (score = similarity in [-1, 1], best first, no score cut-off); documents without an embedding
   * are not candidates. A vector of another dimension than the namespace's is a `memory_error`.
   * When absent, ranking is lexical (BM25 over `query`, score > 0 only).
   */
  embedding?: readonly number[];
}

/** Options of {@link MemoryStore.load}. */
export interface LoadOptions extends CallOptions {
  /**
   * `append` (default): messages get new seqs after any already there (in record order, keeping
   * their `at`), keys and documents are upserted. `replace`: the namespace is emptied first, and
   * messages keep their seq and at (a seq may appear once; later appends continue after the highest).
   */
  mode?: 'append' | 'replace';
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
  /**
   * Top-k documents (default k = 5), best first, equal scores by id. Without `options.embedding`:
   * BM25 relevance to `query`, only documents with score > 0. With it: cosine similarity to the
   * vector over the embedded documents (`query` is not used for ranking).
   */
  recall(ns: MemoryNamespace, query: string, options?: RecallOptions): Promise<RecallHit[]>;
  /**
   * Every record of the namespace (exactly this tenant/council/agent, not its children): messages in
   * seq order, then live keys (with `expiresAt` when they have a TTL), then documents with their
   * embeddings. The order among keys and among documents is the backend's. Streams: a large
   * namespace is read in pages, not held in memory at once.
   */
  dump(ns: MemoryNamespace, options?: CallOptions): AsyncIterable<MemoryRecord>;
  /**
   * Writes records (from `dump`, maybe of another backend) into the namespace; returns how many
   * records it took. Every record is validated before anything is written: a bad record is a
   * `memory_error` whose message starts `load record <index>` (0-based), and the namespace is left as
   * it was. A key whose `expiresAt` has passed is taken but reads as absent.
   */
  load(
    ns: MemoryNamespace,
    records: Iterable<MemoryRecord> | AsyncIterable<MemoryRecord>,
    options?: LoadOptions,
  ): Promise<number>;
  /** What the namespace holds. */
  stats(ns: MemoryNamespace, options?: CallOptions): Promise<MemoryStats>;
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
