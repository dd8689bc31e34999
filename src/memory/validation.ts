/**
 * Input checks shared by every {@link MemoryStore} backend, so each backend rejects the same inputs
 * with the same `memory_error` messages and the conformance suite can hold them all to it.
 */

import { HarnessError, type HarnessErrorOptions, throwIfAborted } from '../errors.ts';
import type { MemoryNamespace, MemoryRecord, MemoryRole } from './store.ts';
import { checkDimension, checkEmbedding } from './vector.ts';

/** A namespace with its defaults applied; `agent` is `''` for council-wide memory. */
export interface ResolvedNamespace {
  tenant: string;
  council: string;
  agent: string;
}

/** The tenant used when a namespace names none. */
export const DEFAULT_TENANT = 'default';

/** The number of messages `read` returns when no `limit` is given. */
export const DEFAULT_READ_LIMIT = 50;

/** The number of hits `recall` returns when no `k` is given. */
export const DEFAULT_RECALL_K = 5;

const ROLES: ReadonlySet<string> = new Set<MemoryRole>(['system', 'user', 'assistant', 'tool']);

/** A `memory_error` HarnessError. */
export function memoryError(message: string, options: HarnessErrorOptions = {}): HarnessError {
  return new HarnessError('memory_error', message, options);
}

/**
 * Applies the defaults of a namespace and checks its parts are non-empty strings.
 * An absent agent is its own namespace (memory shared by the council), not a wildcard.
 */
export function resolveNamespace(ns: MemoryNamespace): ResolvedNamespace {
  if (typeof ns !== 'object' || ns === null) {
    throw memoryError(`memory namespace must be an object like { council: 'support' }, got ${describe(ns)}`, {
      hint: "pass { council: '<name>' } and optionally tenant and agent",
    });
  }
  const part = (name: keyof MemoryNamespace, value: unknown, required: boolean): string => {
    if (value === undefined && !required) return '';
    if (typeof value !== 'string' || value.length === 0) {
      throw memoryError(`memory namespace ${name} must be a non-empty string, got ${describe(value)}`, {
        hint: required
          ? `set ${name}: every namespace names its ${name}`
          : `leave ${name} out or give it a non-empty string`,
        details: { field: name },
      });
    }
    return value;
  };
  const tenant = part('tenant', ns.tenant, false) || DEFAULT_TENANT;
  return { tenant, council: part('council', ns.council, true), agent: part('agent', ns.agent, false) };
}

/** Checks a key for `get`/`set`/`delete`. */
export function checkKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) {
    throw memoryError(`memory key must be a non-empty string, got ${describe(key)}`, {
      hint: 'use a stable string key such as "profile" or "task:42"',
    });
  }
  return key;
}

/** Checks the role and content of a message for `append`. */
export function checkMessage(message: { role: unknown; content: unknown }): void {
  if (typeof message !== 'object' || message === null) {
    throw memoryError(`memory message must be an object { role, content }, got ${describe(message)}`);
  }
  if (typeof message.role !== 'string' || !ROLES.has(message.role)) {
    throw memoryError(
      `memory message role must be one of ${[...ROLES].join(', ')}, got ${describe(message.role)}`,
      {
        hint: "use 'user' for input, 'assistant' for model output",
      },
    );
  }
  if (typeof message.content !== 'string') {
    throw memoryError(`memory message content must be a string, got ${describe(message.content)}`, {
      hint: 'serialise structured content with JSON.stringify, or put it in meta',
    });
  }
}

/** Checks a document for `remember`; returns its id when one was given. */
export function checkDocument(doc: { id?: unknown; text: unknown }): string | undefined {
  if (typeof doc !== 'object' || doc === null) {
    throw memoryError(`memory document must be an object { text }, got ${describe(doc)}`);
  }
  if (typeof doc.text !== 'string') {
    throw memoryError(`memory document text must be a string, got ${describe(doc.text)}`);
  }
  if (doc.id === undefined) return undefined;
  if (typeof doc.id !== 'string' || doc.id.length === 0) {
    throw memoryError(`memory document id must be a non-empty string, got ${describe(doc.id)}`, {
      hint: 'leave id out to have one generated',
    });
  }
  return doc.id;
}

/** Checks `read`'s `limit` (default {@link DEFAULT_READ_LIMIT}); 0 is allowed and reads nothing. */
export function checkLimit(limit: unknown): number {
  if (limit === undefined) return DEFAULT_READ_LIMIT;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) {
    throw memoryError(`read limit must be a whole number ≥ 0, got ${describe(limit)}`, {
      hint: `leave limit out for the last ${DEFAULT_READ_LIMIT} messages`,
    });
  }
  return limit;
}

/** Checks `recall`'s `k` (default {@link DEFAULT_RECALL_K}). */
export function checkK(k: unknown): number {
  if (k === undefined) return DEFAULT_RECALL_K;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1) {
    throw memoryError(`recall k must be a whole number ≥ 1, got ${describe(k)}`, {
      hint: `leave k out for the top ${DEFAULT_RECALL_K}`,
    });
  }
  return k;
}

/** Checks `set`'s `ttlMs` (milliseconds); undefined means the key never expires. */
export function checkTtl(key: string, ttlMs: unknown): number | undefined {
  if (ttlMs === undefined) return undefined;
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw memoryError(
      `ttlMs for memory key "${key}" must be a number of milliseconds > 0, got ${describe(ttlMs)}`,
      {
        hint: 'leave ttlMs out for a key that never expires; use delete() to remove a key now',
        details: { key },
      },
    );
  }
  return ttlMs;
}

/** A recall filter: every entry must equal the document's meta value of the same name. */
export type RecallFilter = Record<string, string | number | boolean>;

/** Checks `recall`'s `filter`. */
export function checkFilter(filter: unknown): RecallFilter | undefined {
  if (filter === undefined) return undefined;
  if (!isPlainObject(filter)) {
    throw memoryError(`recall filter must be an object of meta values, got ${describe(filter)}`, {
      hint: "for example { filter: { source: 'faq', lang: 'en' } }",
    });
  }
  for (const [name, value] of Object.entries(filter)) {
    const type = typeof value;
    if (type !== 'string' && type !== 'boolean' && !(type === 'number' && Number.isFinite(value))) {
      throw memoryError(
        `recall filter "${name}" must be a string, finite number or boolean, got ${describe(value)}`,
        {
          details: { field: name },
        },
      );
    }
  }
  return filter as RecallFilter;
}

/**
 * Serialises a value to JSON text after checking it round-trips: rejects functions, symbols, BigInt,
 * non-finite numbers, cycles, `undefined` at the top level or inside arrays, and objects that are not
 * plain (Map, Set, class instances) unless they have `toJSON` (Date). `JSON.stringify` alone would
 * silently drop or change most of these, and the caller would read back something else.
 * Object properties whose value is `undefined` are dropped, as JSON does.
 *
 * @param what names the value in the error, e.g. `value of key "profile"`.
 * @throws HarnessError `memory_error` naming `what`, the JSON pointer of the bad part and the problem.
 */
export function toJsonText(value: unknown, what: string): string {
  const problem = findJsonProblem(value, '', []);
  if (problem !== undefined) {
    const at = problem.pointer === '' ? '' : ` at ${problem.pointer}`;
    throw memoryError(`${what} is not JSON-serialisable${at}: ${problem.problem}`, {
      hint: 'store only JSON data (objects, arrays, strings, finite numbers, booleans, null); nothing was written',
      details: { pointer: problem.pointer, problem: problem.problem },
    });
  }
  return JSON.stringify(value);
}

/** Serialises optional metadata, which must be a plain object when present. */
export function metaToJsonText(meta: unknown, what: string): string | undefined {
  if (meta === undefined) return undefined;
  if (!isPlainObject(meta)) {
    throw memoryError(`${what} must be a plain object, got ${describe(meta)}`, {
      hint: "for example meta: { source: 'faq' }; nothing was written",
    });
  }
  return toJsonText(meta, what);
}

interface JsonProblem {
  pointer: string;
  problem: string;
}

function findJsonProblem(value: unknown, pointer: string, ancestors: object[]): JsonProblem | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : { pointer, problem: `${value} is not a JSON number` };
    case 'undefined':
      return { pointer, problem: 'undefined is not JSON (use null)' };
    case 'bigint':
      return { pointer, problem: 'BigInt is not JSON (convert it to a string or number)' };
    case 'function':
      return { pointer, problem: 'a function is not JSON' };
    case 'symbol':
      return { pointer, problem: 'a symbol is not JSON' };
  }
  if (value === null) return undefined;
  const object = value as object;
  if (ancestors.includes(object)) return { pointer, problem: 'the value contains a cycle' };
  const toJSON = (object as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    return findJsonProblem(toJSON.call(object, pointer.slice(pointer.lastIndexOf('/') + 1)), pointer, [
      ...ancestors,
      object,
    ]);
  }
  const inside = [...ancestors, object];
  if (Array.isArray(object)) {
    for (let index = 0; index < object.length; index++) {
      const problem = findJsonProblem(object[index], `${pointer}/${index}`, inside);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  if (!isPlainObject(object)) {
    const name = object.constructor?.name ?? 'object';
    return { pointer, problem: `a ${name} is not plain JSON data (convert it to an object or array)` };
  }
  for (const [name, child] of Object.entries(object)) {
    if (child === undefined) continue;
    const problem = findJsonProblem(
      child,
      `${pointer}/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`,
      inside,
    );
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** True for `{}` literals and `Object.create(null)` objects. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A short description of a bad input for error messages, never the whole value. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string')
    return value.length > 40 ? `"${value.slice(0, 40)}…"` : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

/** A record of `load` after validation, with JSON already serialised for storage. */
export type PreparedRecord =
  | { kind: 'message'; seq: number; role: MemoryRole; content: string; at: number; meta: string | undefined }
  | { kind: 'kv'; key: string; value: string; expiresAt: number | undefined }
  | { kind: 'document'; id: string; text: string; meta: string | undefined; embedding: number[] | undefined };

/** What {@link prepareLoad} hands a backend to write. */
export interface PreparedLoad {
  /** In the order given. */
  records: PreparedRecord[];
  /** The dimension of the records' embeddings, when any has one. */
  dimension: number | undefined;
}

/** Options of {@link prepareLoad}. */
export interface PrepareLoadOptions {
  mode: 'append' | 'replace';
  /** The namespace's dimension before the load (ignored for `replace`, which empties it). */
  dimension?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** Checks `load`'s `mode` (default `append`). */
export function checkLoadMode(mode: unknown): 'append' | 'replace' {
  if (mode === undefined) return 'append';
  if (mode !== 'append' && mode !== 'replace') {
    throw memoryError(`load mode must be 'append' or 'replace', got ${describe(mode)}`, {
      hint: "leave mode out to add to what the namespace holds; 'replace' empties it first",
    });
  }
  return mode;
}

/**
 * Reads every record of a `load` and validates it before the backend writes anything: shape, role,
 * JSON meta and values, embeddings (finite, one dimension across the records and, in `append` mode,
 * the namespace's), and in `replace` mode unique message seqs.
 *
 * @throws HarnessError `memory_error` whose message starts with `load record <index>` (0-based) and
 * whose `details.index` is that index; `aborted` when the signal fires while reading.
 */
export async function prepareLoad(
  records: Iterable<MemoryRecord> | AsyncIterable<MemoryRecord>,
  options: PrepareLoadOptions,
): Promise<PreparedLoad> {
  if (
    typeof records !== 'object' ||
    records === null ||
    (typeof (records as Iterable<unknown>)[Symbol.iterator] !== 'function' &&
      typeof (records as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function')
  ) {
    throw memoryError(`load takes an iterable of records, got ${describe(records)}`, {
      hint: 'pass an array of records or the async iterable dump() returns',
    });
  }
  const prepared: PreparedRecord[] = [];
  let dimension = options.mode === 'replace' ? undefined : options.dimension;
  const seqs = new Set<number>();
  let index = 0;
  for await (const record of records as AsyncIterable<unknown>) {
    throwIfAborted(options.signal);
    const item = prepareRecord(record, index);
    if (item.kind === 'document' && item.embedding !== undefined) {
      try {
        checkDimension(item.embedding.length, dimension, `embedding of memory document "${item.id}"`);
      } catch (error) {
        throw atRecord(index, error);
      }
      dimension = item.embedding.length;
    }
    if (item.kind === 'message' && options.mode === 'replace') {
      if (seqs.has(item.seq)) {
        throw atRecord(
          index,
          memoryError(`message seq ${item.seq} appears twice`, {
            hint: "in 'replace' mode messages keep their seq, so each seq may appear once",
          }),
        );
      }
      seqs.add(item.seq);
    }
    prepared.push(item);
    index++;
  }
  throwIfAborted(options.signal);
  return { records: prepared, dimension };
}

function prepareRecord(record: unknown, index: number): PreparedRecord {
  try {
    if (!isPlainObject(record)) {
      throw memoryError(`must be an object with kind 'message', 'kv' or 'document', got ${describe(record)}`);
    }
    switch (record.kind) {
      case 'message': {
        checkMessage(record as { role: unknown; content: unknown });
        const { seq, at } = record;
        if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 1) {
          throw memoryError(`message seq must be a whole number ≥ 1, got ${describe(seq)}`);
        }
        if (typeof at !== 'number' || !Number.isFinite(at)) {
          throw memoryError(`message at must be epoch milliseconds, got ${describe(at)}`);
        }
        return {
          kind: 'message',
          seq,
          role: record.role as MemoryRole,
          content: record.content as string,
          at,
          meta: metaToJsonText(record.meta, 'message meta'),
        };
      }
      case 'kv': {
        const key = checkKey(record.key);
        const { expiresAt } = record;
        if (expiresAt !== undefined && (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt))) {
          throw memoryError(
            `expiresAt of memory key "${key}" must be epoch milliseconds, got ${describe(expiresAt)}`,
          );
        }
        if (!Object.hasOwn(record, 'value')) throw memoryError(`memory key "${key}" has no value`);
        return {
          kind: 'kv',
          key,
          value: toJsonText(record.value, `value of memory key "${key}"`),
          expiresAt: expiresAt as number | undefined,
        };
      }
      case 'document': {
        const id = checkDocument(record as { id?: unknown; text: unknown });
        if (id === undefined) throw memoryError('memory document record has no id');
        return {
          kind: 'document',
          id,
          text: record.text as string,
          meta: metaToJsonText(record.meta, `meta of memory document "${id}"`),
          embedding:
            record.embedding === undefined
              ? undefined
              : checkEmbedding(record.embedding, `embedding of memory document "${id}"`),
        };
      }
      default:
        throw memoryError(`has kind ${describe(record.kind)}; expected 'message', 'kv' or 'document'`);
    }
  } catch (error) {
    throw atRecord(index, error);
  }
}

/** Prefixes a record's error with its index, so the caller can find it in a JSON-lines file. */
function atRecord(index: number, error: unknown): HarnessError {
  const cause = error as HarnessError;
  return memoryError(`load record ${index}: ${cause.message}`, {
    cause: error,
    hint: `fix or drop record ${index} (0-based); nothing was written`,
    details: { ...cause.details, index },
  });
}
