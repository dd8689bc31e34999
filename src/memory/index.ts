/**
 * The memory module: the {@link MemoryStore} contract, the `Memory` class, the scheme registry and
 * the embedded backends (`memory://`, `sqlite://`).
 */

export type { DocStats, RankOptions, ScoredCandidate } from './bm25.ts';
export { BM25_B, BM25_K1, documentStats, rankBm25, tokenize } from './bm25.ts';
export type { InMemoryStoreOptions } from './in-memory.ts';
export { createInMemoryStore } from './in-memory.ts';
export type { MemoryOptions } from './memory.ts';
export { Memory } from './memory.ts';
export type { MemorySchemeOptions, MemoryStoreFactory, ParsedMemoryUrl } from './registry.ts';
export {
  knownMemorySchemes,
  openMemoryStore,
  parseMemoryUrl,
  redactUrl,
  registerMemoryScheme,
} from './registry.ts';
export type { SqliteStoreOptions } from './sqlite.ts';
export {
  createSqliteStore,
  DEFAULT_SQLITE_BUSY_TIMEOUT_MS,
  SQLITE_SCHEMA_VERSION,
  sqlitePathFromUrl,
} from './sqlite.ts';
export type {
  CallOptions,
  EmbeddedStoreOptions,
  MemoryDocument,
  MemoryDocumentInput,
  MemoryMessage,
  MemoryMessageInput,
  MemoryNamespace,
  MemoryRole,
  MemoryStore,
  ReadOptions,
  RecallHit,
  RecallOptions,
  SetOptions,
} from './store.ts';
export type { RecallFilter } from './validation.ts';
export { DEFAULT_READ_LIMIT, DEFAULT_RECALL_K, DEFAULT_TENANT } from './validation.ts';
