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
import {
  checkDocument,
  checkFilter,
  checkK,
  checkKey,
  checkLimit,
  checkMessage,
  checkTtl,
  memoryError,
  metaToJsonText,
  resolveNamespace,
  toJsonText,
} from './validation.ts';

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
}

interface NamespaceData {
  messages: StoredMessage[];
  kv: Map<string, { value: string; expiresAt: number | undefined }>;
  documents: Map<string, StoredDocument>;
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
  // Reads do not create a namespace, so probing for keys does not grow the map.
  const space = (ns: MemoryNamespace, create: boolean): NamespaceData | undefined => {
    const { tenant, council, agent } = resolveNamespace(ns);
    const key = JSON.stringify([tenant, council, agent]);
    let data = spaces.get(key);
    if (data === undefined && create) {
      data = { messages: [], kv: new Map(), documents: new Map() };
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
      space(ns, true)!.documents.set(id, { id, text: doc.text, meta, stats: documentStats(doc.text) });
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
      const data = space(ns, false);
      if (data === undefined) return [];
      const candidates = [...data.documents.values()].map((doc) => ({
        id: doc.id,
        text: doc.text,
        ...(doc.meta === undefined ? {} : { meta: JSON.parse(doc.meta) as Record<string, unknown> }),
        stats: doc.stats,
      }));
      return rankBm25(candidates, query, { k, filter });
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

function toMessage(stored: StoredMessage): MemoryMessage {
  return {
    seq: stored.seq,
    role: stored.role,
    content: stored.content,
    at: stored.at,
    ...(stored.meta === undefined ? {} : { meta: JSON.parse(stored.meta) as Record<string, unknown> }),
  };
}
