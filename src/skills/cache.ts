/**
 * The LRU skill cache (product spec §6.4.3): opt-in per skill, bounded in entries and age, keyed
 * by a canonical hash of the input, the skill name and its version. Only successful results are
 * kept, and identical calls in flight share one execution (single-flight).
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { HarnessError } from '../errors.ts';
import type { AnySkill, SkillContext } from '../runtime/skill.ts';

/** Size and age limits of a {@link SkillCache}. */
export interface SkillCacheOptions {
  /** Most results kept; past it the least recently used goes first (default 500). */
  size?: number;
  /** How long a result is served, in milliseconds (default 60 000); 0 keeps results until evicted. */
  ttlMs?: number;
}

/** Counters of a {@link SkillCache} since it was created (or last cleared). */
export interface SkillCacheStats {
  /** Calls answered without running the skill: from the cache, or by joining an identical call in flight. */
  hits: number;
  /** Calls that ran the skill (failed ones included). */
  misses: number;
  /** Results held now (expired ones are dropped before counting). */
  size: number;
  /** Results pushed out by the size limit. */
  evictions: number;
}

/** What a cached result is stored as: a box, so a skill that returns `undefined` is cached too. */
interface Entry {
  value: unknown;
}

/** The default limits: 500 results, 60 s. */
export const defaultSkillCacheOptions = { size: 500, ttlMs: 60_000 } as const;

const caches = new WeakMap<object, SkillCache>();

/**
 * An LRU cache of skill results. One cache may serve several skills (or several versions of one
 * skill): the key includes the skill's name and version, so a new version never sees the
 * results of an old one.
 */
export class SkillCache {
  /** Most results kept. */
  readonly size: number;
  /** Age limit of a result in milliseconds; 0 = none. */
  readonly ttlMs: number;
  readonly #lru: LRUCache<string, Entry>;
  readonly #inflight = new Map<string, Promise<unknown>>();
  #hits = 0;
  #misses = 0;
  #evictions = 0;

  /**
   * @param options limits (defaults: 500 results, 60 000 ms).
   * @param where names the options in errors, e.g. `Skill(Lookup).cache`.
   * @throws HarnessError `config_invalid` for a size that is not a positive whole number or a
   * negative or fractional `ttlMs`.
   */
  constructor(options: SkillCacheOptions = {}, where = 'SkillCache') {
    const size = options.size ?? defaultSkillCacheOptions.size;
    const ttlMs = options.ttlMs ?? defaultSkillCacheOptions.ttlMs;
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new HarnessError('config_invalid', `cache size must be a whole number ≥ 1, got ${String(size)}`, {
        location: { path: `${where}.size` },
        hint: 'give the most results to keep, e.g. size: 500',
      });
    }
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 0) {
      throw new HarnessError(
        'config_invalid',
        `cache ttlMs must be a whole number of milliseconds ≥ 0, got ${String(ttlMs)}`,
        {
          location: { path: `${where}.ttlMs` },
          hint: 'give how long a result stays valid, e.g. ttlMs: 60000 (0 = until evicted)',
        },
      );
    }
    this.size = size;
    this.ttlMs = ttlMs;
    this.#lru = new LRUCache<string, Entry>({
      max: size,
      ...(ttlMs > 0 ? { ttl: ttlMs } : {}),
      // The wall clock, looked up at each call (lru-cache keeps the clock it found at import):
      // fake timers in tests move expiry as they move everything else, and unlike a fake
      // performance.now() it never reads 0, which lru-cache takes for "no TTL".
      perf: { now: () => Date.now() },
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') this.#evictions++;
      },
    });
  }

  /**
   * Answers a call of `skill` with `input`: a cached result (a copy), the result of an identical
   * call in flight, or `execute()`'s, which is cached when it succeeds. An input that is not
   * JSON (a cycle, a bigint) is never cached. Waiting on another call's execution stops when
   * `signal` aborts; when that execution was itself aborted, this call runs on its own.
   */
  async run<O>(
    skill: { readonly name: string; readonly version: string },
    input: unknown,
    signal: AbortSignal | undefined,
    execute: () => Promise<O>,
  ): Promise<O> {
    const key = skillCacheKey(skill.name, skill.version, input);
    if (key === undefined) return await execute();
    for (;;) {
      const entry = this.#lru.get(key);
      if (entry !== undefined) {
        this.#hits++;
        return copy(entry.value) as O;
      }
      const pending = this.#inflight.get(key);
      if (pending === undefined) break;
      try {
        const value = await untilAborted(pending, signal);
        this.#hits++;
        return copy(value) as O;
      } catch (error) {
        // Another caller's abort is not ours: run the skill for this call instead.
        if (signal?.aborted || !isAbort(error)) throw error;
        if (this.#inflight.get(key) === pending) this.#inflight.delete(key);
      }
    }
    this.#misses++;
    const execution = (async () => {
      const value = await execute();
      // The cache keeps its own copy: a caller that mutates its result cannot change later hits.
      this.#lru.set(key, { value: copy(value) });
      return value;
    })();
    this.#inflight.set(key, execution);
    try {
      return await execution;
    } finally {
      if (this.#inflight.get(key) === execution) this.#inflight.delete(key);
    }
  }

  /** Hits, misses, evictions and the current size. */
  stats(): SkillCacheStats {
    this.#lru.purgeStale();
    return { hits: this.#hits, misses: this.#misses, size: this.#lru.size, evictions: this.#evictions };
  }

  /** Drops every result and resets the counters (calls in flight finish and are cached). */
  clear(): void {
    this.#lru.clear();
    this.#hits = 0;
    this.#misses = 0;
    this.#evictions = 0;
  }
}

/**
 * A copy of `skill` whose results are cached: `withCache(lookup, { size: 500, ttlMs: 60_000 })`.
 * The copy has the same name, description, version and schemas; pass a `SkillCache` to share one.
 *
 * @throws HarnessError `config_invalid` when `skill` already has a cache.
 */
export function withCache(skill: AnySkill, options: SkillCacheOptions | SkillCache = {}): AnySkill {
  if (caches.has(skill)) {
    throw new HarnessError('config_invalid', `skill "${skill.name}" already has a cache`, {
      location: { path: `withCache(${skill.name})` },
      hint: 'set the cache once: in the Skill options, with withCache(), or under skills: in YAML',
    });
  }
  const cache = options instanceof SkillCache ? options : new SkillCache(options, `withCache(${skill.name})`);
  const run = (input: never, context: SkillContext): Promise<unknown> =>
    cache.run(skill, input, context.signal, async () => await skill.run(input, context));
  const cached: AnySkill = {
    name: skill.name,
    description: skill.description,
    version: skill.version,
    inputSchema: skill.inputSchema,
    ...(skill.outputSchema === undefined ? {} : { outputSchema: skill.outputSchema }),
    run,
  };
  caches.set(cached, cache);
  return cached;
}

/** The cache of a skill built with a `cache` option or by {@link withCache}; undefined for others. */
export function skillCache(skill: AnySkill): SkillCache | undefined {
  return caches.get(skill);
}

/** Hit, miss, size and eviction counts of a cached skill; undefined for a skill without a cache. */
export function cacheStats(skill: AnySkill): SkillCacheStats | undefined {
  return caches.get(skill)?.stats();
}

/** Records `cache` as the cache of `skill` (for {@link cacheStats}); `Skill` calls it. */
export function registerSkillCache(skill: object, cache: SkillCache): void {
  caches.set(skill, cache);
}

/**
 * The cache key of a call: the hex sha256 of the skill name, its version and the input's
 * canonical JSON; undefined when the input is not JSON.
 */
export function skillCacheKey(name: string, version: string, input: unknown): string | undefined {
  let json: string;
  try {
    json = canonicalJson(input);
  } catch {
    return undefined;
  }
  return createHash('sha256').update(`${name}\u0000${version}\u0000${json}`).digest('hex');
}

/**
 * JSON with object keys sorted at every level, so `{a:1,b:2}` and `{b:2,a:1}` give the same
 * text. Follows `JSON.stringify` otherwise (`toJSON`, undefined properties left out, `NaN` as
 * null). Throws a TypeError on a cycle or a bigint.
 */
export function canonicalJson(value: unknown): string {
  return canonical(value, new Set()) ?? 'null';
}

function canonical(value: unknown, seen: Set<object>): string | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') return JSON.stringify(value);
  if (typeof value === 'bigint') throw new TypeError('a bigint is not JSON');
  if (typeof value !== 'object') return undefined; // undefined, functions and symbols: left out, as JSON does
  const withJson = value as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === 'function') return canonical(withJson.toJSON(), seen);
  if (seen.has(value)) throw new TypeError('a cycle is not JSON');
  seen.add(value);
  let out: string;
  if (Array.isArray(value)) {
    out = `[${value.map((item) => canonical(item, seen) ?? 'null').join(',')}]`;
  } else {
    const record = value as Record<string, unknown>;
    const parts: string[] = [];
    for (const key of Object.keys(record).sort()) {
      const text = canonical(record[key], seen);
      if (text !== undefined) parts.push(`${JSON.stringify(key)}:${text}`);
    }
    out = `{${parts.join(',')}}`;
  }
  seen.delete(value);
  return out;
}

/** A structured copy of a result; the value itself when it cannot be copied (functions, say). */
function copy(value: unknown): unknown {
  try {
    return structuredClone(value);
  } catch {
    return value;
  }
}

function isAbort(error: unknown): boolean {
  if (HarnessError.isInstance(error)) return error.code === 'aborted';
  return error instanceof Error && error.name === 'AbortError';
}

/** `promise`, or an `aborted` error as soon as `signal` fires (the promise itself goes on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    return Promise.reject(
      new HarnessError('aborted', 'the skill call was aborted', { cause: signal.reason }),
    );
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () =>
      reject(new HarnessError('aborted', 'the skill call was aborted', { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
