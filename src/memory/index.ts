/**
 * The memory module: the {@link MemoryStore} contract, the `Memory` class, the scheme registry and
 * the embedded backends (`memory://`, `sqlite://`).
 */

export type { DocStats, RankOptions, ScoredCandidate } from './bm25.ts';
export { BM25_B, BM25_K1, documentStats, rankBm25, tokenize } from './bm25.ts';
export type { InMemoryStoreOptions } from './in-memory.ts';
export { createInMemoryStore } from './in-memory.ts';
export type {
  ContextOptions,
  Embedder,
  MemoryContext,
  MemoryOptions,
  MemorySummaryOptions,
  StoredSummary,
  Summarizer,
} from './memory.ts';
export { Memory, SUMMARY_KEY } from './memory.ts';
export type { MemorySchemeOptions, MemoryStoreFactory, ParsedMemoryUrl } from './registry.ts';
export {
  knownMemorySchemes,
  openMemoryStore,
  parseMemoryUrl,
  redactUrl,
  registerMemoryScheme,
} from './registry.ts';
export type { SqliteMemoryStore, SqliteStoreOptions } from './sqlite.ts';
export {
  createSqliteStore,
  DEFAULT_SQLITE_BUSY_TIMEOUT_MS,
  SQLITE_SCHEMA_VERSION,
  sqlitePathFromUrl,
} from './sqlite.ts';
export type {
  CallOptions,
  EmbeddedStoreOptions,
  LoadOptions,
  MemoryDocument,
  MemoryDocumentInput,
  MemoryMessage,
  MemoryMessageInput,
  MemoryNamespace,
  MemoryRecord,
  MemoryRole,
  MemoryStats,
  MemoryStore,
  ReadOptions,
  RecallHit,
  RecallOptions,
  SetOptions,
  StoredDocument,
} from './store.ts';
export type { PreparedLoad, PreparedRecord, PrepareLoadOptions, RecallFilter } from './validation.ts';
export {
  checkLoadMode,
  DEFAULT_READ_LIMIT,
  DEFAULT_RECALL_K,
  DEFAULT_TENANT,
  prepareLoad,
} from './validation.ts';
export type { CosineHit, CosineRankOptions, VectorCandidate } from './vector.ts';
export {
  checkDimension,
  checkEmbedding,
  compareHits,
  cosineSimilarity,
  fromFloat32Bytes,
  rankByCosine,
  toFloat32Bytes,
} from './vector.ts';
