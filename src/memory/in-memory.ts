/**
 * The `memory://` backend: everything in process memory, gone when the process exits. The default
 * for tests and one-off runs. Values are kept as JSON text so what a caller reads back is a copy and
 * behaves exactly like the persistent backends (a Date comes back as a string, for instance).
 */

import { randomUUID } from 'node:crypto';
import { throwIfAborted } from '../errors.ts';
import { type DocStats, documentStats, rankBm25 } from './bm25.ts';
import { redactUrl } from './redact.ts';
import type {
  CallOptions,
  EmbeddedStoreOptions,
  LoadOptions,
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
} from './store.ts';
import {
  checkDocument,
  checkFilter,
  checkK,
  checkKey,
  checkLimit,
  checkLoadMode,
  checkMessage,
  checkTtl,
  memoryError,
  metaToJsonText,
  prepareLoad,
  resolveNamespace,
  toJsonText,
} from './validation.ts';
import { checkDimension, checkEmbedding, rankByCosine } from './vector.ts';

/** Options of {@link createInMemoryStore}. */
export interface InMemoryStoreOptions extends EmbeddedStoreOptions {}

/** How many `set` calls pass between two sweeps of a namespace's expired keys. */
const SWEEP_EVERY_SETS = 256;

interface StoredMessage {
  seq: number;
  role: MemoryRole;
  content: string;
  at: number;
  meta: string | undefined;
}

interface StoredDocument {
  id: string;
  text: string;
  meta: string | undefined;
  stats: DocStats;
  embedding: number[] | undefined;
}

interface NamespaceData {
  messages: StoredMessage[];
  kv: Map<string, { value: string; expiresAt: number | undefined }>;
  documents: Map<string, StoredDocument>;
  /** How many documents have an embedding; the dimension is theirs, so it resets when none is left. */
  embedded: number;
  dimension: number | undefined;
}

function emptySpace(): NamespaceData {
  return { messages: [], kv: new Map(), documents: new Map(), embedded: 0, dimension: undefined };
}

/** Puts a document in, keeping the embedded count and the dimension right. */
function putDocument(data: NamespaceData, doc: StoredDocument): void {
  const old = data.documents.get(doc.id);
  if (old?.embedding !== undefined) data.embedded--;
  if (doc.embedding !== undefined) {
    data.embedded++;
    data.dimension = doc.embedding.length;
  }
  if (data.embedded === 0) data.dimension = undefined;
  data.documents.set(doc.id, doc);
}

/**
 * Creates a store that keeps everything in this process's memory.
 *
 * @param url shown as the store's `url`; default `memory://`. Anything after the scheme is ignored.
 */
export function createInMemoryStore(url = 'memory://', options: InMemoryStoreOptions = {}): MemoryStore {
  const now = options.now ?? Date.now;
  const spaces = new Map<string, NamespaceData>();
  let closed = false;
  let sets = 0;

  const begin = (signal: AbortSignal | undefined): void => {
    throwIfAborted(signal);
    if (closed) {
      throw memoryError(`memory store ${redactUrl(url)} is closed`, {
        hint: 'open a new store; a closed one cannot be reused',
      });
    }
  };
  const spaceKey = (ns: MemoryNamespace): string => {
    const { tenant, council, agent } = resolveNamespace(ns);
    return JSON.stringify([tenant, council, agent]);
  };
  // Reads do not create a namespace, so probing for keys does not grow the map.
  const space = (ns: MemoryNamespace, create: boolean): NamespaceData | undefined => {
    const key = spaceKey(ns);
    let data = spaces.get(key);
    if (data === undefined && create) {
      data = emptySpace();
      spaces.set(key, data);
    }
    return data;
  };

  return {
    url: redactUrl(url),

    async append(ns: MemoryNamespace, message: MemoryMessageInput, callOptions: CallOptions = {}) {
      begin(callOptions.signal);
      resolveNamespace(ns);
      checkMessage(message);
      const meta = metaToJsonText(message.meta, 'message meta');
      const data = space(ns, true)!;
      const stored: StoredMessage = {
        seq: (data.messages.at(-1)?.seq ?? 0) + 1,
        role: message.role,
        content: message.content,
        at: now(),
        meta,
      };
      data.messages.push(stored);
      return toMessage(stored);
    },

    async read(ns: MemoryNamespace, readOptions: ReadOptions = {}) {
      begin(readOptions.signal);
      const limit = checkLimit(readOptions.limit);
      const data = space(ns, false);
      if (data === undefined || limit === 0) return [];
      return data.messages.slice(-limit).map(toMessage);
    },

    async get<T = unknown>(ns: MemoryNamespace, key: string, callOptions: CallOptions = {}) {
      begin(callOptions.signal);
      checkKey(key);
      const data = space(ns, false);
      const entry = data?.kv.get(key);
      if (entry === undefined) return undefined;
      if (entry.expiresAt !== undefined && entry.expiresAt <= now()) {
        data?.kv.delete(key);
        return undefined;
      }
      return JSON.parse(entry.value) as T;
    },

    async set(ns: MemoryNamespace, key: string, value: unknown, setOptions: SetOptions = {}) {
      begin(setOptions.signal);
      resolveNamespace(ns);
      checkKey(key);
      const ttlMs = checkTtl(key, setOptions.ttlMs);
      const text = toJsonText(value, `value of memory key "${key}"`);
      const data = space(ns, true)!;
      const at = now();
      // Expired keys nobody reads again would pile up; sweep the namespace now and then (O(keys)).
      if (++sets % SWEEP_EVERY_SETS === 0) {
        for (const [name, entry] of data.kv) {
          if (entry.expiresAt !== undefined && entry.expiresAt <= at) data.kv.delete(name);
        }
      }
      data.kv.set(key, { value: text, expiresAt: ttlMs === undefined ? undefined : at + ttlMs });
    },

    async delete(ns: MemoryNamespace, key: string, callOptions: CallOptions = {}) {
      begin(callOptions.signal);
      checkKey(key);
      const data = space(ns, false);
      const entry = data?.kv.get(key);
      if (entry === undefined) return false;
      data?.kv.delete(key);
      return entry.expiresAt === undefined || entry.expiresAt > now();
    },

    async remember(ns: MemoryNamespace, doc: MemoryDocumentInput, callOptions: CallOptions = {}) {
      begin(callOptions.signal);
      resolveNamespace(ns);
      const id = checkDocument(doc) ?? randomUUID();
      const meta = metaToJsonText(doc.meta, `meta of memory document "${id}"`);
      const what = `embedding of memory document "${id}"`;
      const embedding = doc.embedding === undefined ? undefined : checkEmbedding(doc.embedding, what);
      if (embedding !== undefined) checkDimension(embedding.length, space(ns, false)?.dimension, what);
      putDocument(space(ns, true)!, { id, text: doc.text, meta, stats: documentStats(doc.text), embedding });
      return id;
    },

    async recall(
      ns: MemoryNamespace,
      query: string,
      recallOptions: RecallOptions = {},
    ): Promise<RecallHit[]> {
      begin(recallOptions.signal);
      if (typeof query !== 'string') throw memoryError('recall query must be a string');
      const k = checkK(recallOptions.k);
      const filter = checkFilter(recallOptions.filter);
      const vector =
        recallOptions.embedding === undefined
          ? undefined
          : checkEmbedding(recallOptions.embedding, 'recall embedding');
      const data = space(ns, false);
      if (vector !== undefined) {
        if (data === undefined || data.dimension === undefined) return [];
        checkDimension(vector.length, data.dimension, 'recall embedding');
        const embedded = [...data.documents.values()]
          .filter((doc) => doc.embedding !== undefined)
          .map((doc) => ({
            doc,
            id: doc.id,
            embedding: doc.embedding as number[],
            meta: parseMeta(doc.meta),
          }));
        return rankByCosine(embedded, vector, { k, filter }).map(({ candidate, score }) => ({
          id: candidate.id,
          text: candidate.doc.text,
          ...(candidate.meta === undefined ? {} : { meta: candidate.meta }),
          score,
        }));
      }
      if (data === undefined) return [];
      const candidates = [...data.documents.values()].map((doc) => ({
        id: doc.id,
        text: doc.text,
        ...(doc.meta === undefined ? {} : { meta: JSON.parse(doc.meta) as Record<string, unknown> }),
        stats: doc.stats,
      }));
      return rankBm25(candidates, query, { k, filter });
    },

    async *dump(ns: MemoryNamespace, callOptions: CallOptions = {}): AsyncGenerator<MemoryRecord> {
      begin(callOptions.signal);
      const data = space(ns, false);
      if (data === undefined) return;
      // Snapshot first: the namespace may change while the caller consumes the records.
      const at = now();
      const records: MemoryRecord[] = [
        ...data.messages.map((message): MemoryRecord => ({ kind: 'message', ...toMessage(message) })),
        ...[...data.kv]
          .filter(([, entry]) => entry.expiresAt === undefined || entry.expiresAt > at)
          .map(
            ([key, entry]): MemoryRecord => ({
              kind: 'kv',
              key,
              value: JSON.parse(entry.value) as unknown,
              ...(entry.expiresAt === undefined ? {} : { expiresAt: entry.expiresAt }),
            }),
          ),
        ...[...data.documents.values()].map(
          (doc): MemoryRecord => ({
            kind: 'document',
            id: doc.id,
            text: doc.text,
            ...(doc.meta === undefined ? {} : { meta: JSON.parse(doc.meta) as Record<string, unknown> }),
            ...(doc.embedding === undefined ? {} : { embedding: [...doc.embedding] }),
          }),
        ),
      ];
      for (const record of records) {
        begin(callOptions.signal);
        yield record;
      }
    },

    async load(
      ns: MemoryNamespace,
      records: Iterable<MemoryRecord> | AsyncIterable<MemoryRecord>,
      loadOptions: LoadOptions = {},
    ): Promise<number> {
      begin(loadOptions.signal);
      resolveNamespace(ns);
      const mode = checkLoadMode(loadOptions.mode);
      const prepared = await prepareLoad(records, {
        mode,
        dimension: space(ns, false)?.dimension,
        signal: loadOptions.signal,
      });
      begin(loadOptions.signal);
      // Everything below is synchronous, so no other call sees a half-loaded namespace.
      let data = space(ns, true)!;
      if (mode === 'replace') {
        data = emptySpace();
        spaces.set(spaceKey(ns), data);
      }
      let seq = data.messages.at(-1)?.seq ?? 0;
      const messages: StoredMessage[] = [];
      for (const record of prepared.records) {
        if (record.kind === 'message') {
          const { kind: _, ...message } = record;
          messages.push(mode === 'replace' ? message : { ...message, seq: ++seq });
        } else if (record.kind === 'kv') {
          data.kv.set(record.key, { value: record.value, expiresAt: record.expiresAt });
        } else {
          putDocument(data, {
            id: record.id,
            text: record.text,
            meta: record.meta,
            stats: documentStats(record.text),
            embedding: record.embedding,
          });
        }
      }
      if (mode === 'replace') messages.sort((a, b) => a.seq - b.seq);
      data.messages.push(...messages);
      return prepared.records.length;
    },

    async stats(ns: MemoryNamespace, callOptions: CallOptions = {}): Promise<MemoryStats> {
      begin(callOptions.signal);
      resolveNamespace(ns);
      const data = space(ns, false);
      if (data === undefined) return { messages: 0, keys: 0, documents: 0 };
      const at = now();
      let keys = 0;
      for (const entry of data.kv.values()) if (entry.expiresAt === undefined || entry.expiresAt > at) keys++;
      return {
        messages: data.messages.length,
        keys,
        documents: data.documents.size,
        ...(data.dimension === undefined ? {} : { dimension: data.dimension }),
      };
    },

    async ping(callOptions: CallOptions = {}) {
      begin(callOptions.signal);
    },

    async close() {
      closed = true;
      spaces.clear();
    },
  };
}

function parseMeta(meta: string | undefined): Record<string, unknown> | undefined {
  return meta === undefined ? undefined : (JSON.parse(meta) as Record<string, unknown>);
}

function toMessage(stored: StoredMessage): MemoryMessage {
  return {
    seq: stored.seq,
    role: stored.role,
    content: stored.content,
    at: stored.at,
    ...(stored.meta === undefined ? {} : { meta: JSON.parse(stored.meta) as Record<string, unknown> }),
  };
}
