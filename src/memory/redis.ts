/**
 * The `redis://` and `rediss://` backend on ioredis (an optional peer dependency, imported only when
 * such a store is opened). Several processes may share one Redis: every write is one atomic command,
 * Lua script or MULTI/EXEC.
 *
 * ## Data layout
 *
 * Every key of a namespace starts with `<keyPrefix>{<tenant>:<council>:<agent>}:` (keyPrefix default
 * `forge:mem:`; agent empty for council-wide memory). Each part is escaped (`%` `:` `{` `}` as `%XX`),
 * so `a:b`/`c` and `a`/`b:c` never share keys, and the braces are a Redis Cluster hash tag: all keys
 * of a namespace hash to one slot, so its scripts and transactions also run on a cluster.
 *
 * | key suffix | type | holds |
 * | --- | --- | --- |
 * | `seq` | string (integer) | the last message seq handed out (`INCR`) |
 * | `msgs` | list | messages in seq order, each the JSON array `[seq, role, content, at, meta?]` |
 * | `kv:<key>` | string | a key's value as JSON text, with the native TTL (`SET … PX`) |
 * | `kv` | hash | key name → its `expiresAt` (epoch ms by `now`, empty = never), so dump/stats need no `SCAN` of the whole database and a dump gives back the exact `expiresAt` it was loaded with; names whose key expired are pruned as they are met |
 * | `docs` | hash | document id → JSON `[text, meta or null, bm25 stats]`; its fields are the id set |
 * | `emb` | hash | document id → its embedding as little-endian float32 bytes (only embedded documents) |
 * | `dim` | string (integer) | the dimension of the namespace's embeddings (meaningful while `emb` is not empty) |
 *
 * - `append` runs one Lua script: `INCR seq` then `RPUSH msgs`, atomically, so appenders in any number
 *   of processes never get the same seq and never leave a gap, and the list stays in seq order.
 * - `remember` runs one Lua script that checks the embedding against `dim` and writes `docs`, `emb`
 *   and `dim` together, so a wrong-dimension document writes nothing.
 * - `load` validates every record first, then writes in one MULTI/EXEC; in `append` mode with
 *   embeddings it WATCHes `dim`/`emb` on a connection of its own and retries if a concurrent
 *   `remember` changed them.
 * - Recall is brute force in this process: BM25 (`bm25.ts`) over `docs`, or exact cosine
 *   (`vector.ts`) over `emb`, scanned in pages with `HSCAN` so memory stays bounded.
 * - TTLs are Redis's own (`PX`, server clock); `now` stamps message `at` and the `expiresAt` kept in
 *   the `kv` hash for dumps.
 * - A signal is checked before each round trip (between pages for dump, stats and vector recall); a
 *   command already sent runs to its end, so an abort never leaves half a write behind.
 *
 * ## Failure behaviour
 *
 * ioredis by default retries forever and queues commands while disconnected, so a call to a dead
 * server would hang. Here `enableOfflineQueue: false` makes a call fail at once while the connection
 * is down, and `maxRetriesPerRequest: 0` with `autoResendUnfulfilledCommands: false` rejects a command
 * that was in flight when the connection dropped instead of resending it after a reconnect: such a
 * command may or may not have run, and resending an append could store it twice. Both surface as a
 * retryable `memory_error` naming host:port. The client keeps reconnecting in the background (backoff
 * up to 2 s), so the same store answers again once the server is back. `commandTimeoutMs` bounds a
 * call to a server that accepts the connection but does not answer. Errors never carry the password:
 * messages are scrubbed and the driver's error (whose `command.args` can hold the AUTH password) is
 * never attached as `cause`.
 *
 * Whether a write Redis acknowledged survives a crash of the server is its persistence setting: with
 * `appendonly yes` and `appendfsync always` nothing acknowledged is lost; `everysec` (the default with
 * AOF) may lose the last second, and RDB snapshots alone the writes since the last snapshot.
 */

import { randomUUID } from 'node:crypto';
import type { ChainableCommander, Redis, RedisOptions } from 'ioredis';
import { HarnessError, throwIfAborted } from '../errors.ts';
import { type DocStats, documentStats, rankBm25, statsFromJson } from './bm25.ts';
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
  type PreparedLoad,
  prepareLoad,
  type ResolvedNamespace,
  resolveNamespace,
  toJsonText,
} from './validation.ts';
import {
  type CosineHit,
  checkDimension,
  checkEmbedding,
  fromFloat32Bytes,
  rankByCosine,
  toFloat32Bytes,
  type VectorCandidate,
} from './vector.ts';

/** Options of {@link createRedisStore}. */
export interface RedisStoreOptions extends EmbeddedStoreOptions {
  /**
   * Prefix of every key the store writes; default {@link DEFAULT_REDIS_KEY_PREFIX}. Overrides a
   * `?keyPrefix=` in the URL. Must not contain `{` or `}` (the namespace part is the hash tag).
   */
  keyPrefix?: string;
  /** How long opening may take before it fails, in milliseconds; default 5000. */
  connectTimeoutMs?: number;
  /** How long one command may wait for its reply before the call fails (retryable), in milliseconds; default 10000. */
  commandTimeoutMs?: number;
}

/** The key prefix used when neither the options nor the URL give one. */
export const DEFAULT_REDIS_KEY_PREFIX = 'forge:mem:';

/** The connect timeout used when none is given, in milliseconds. */
export const DEFAULT_REDIS_CONNECT_TIMEOUT_MS = 5000;

/** The command timeout used when none is given, in milliseconds. */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 10_000;

/** What a `redis://` URL says, as {@link parseRedisUrl} reads it. */
export interface RedisConnectionSettings {
  /** Host name or IP address (IPv6 without brackets). */
  host: string;
  /** Default 6379. */
  port: number;
  /** Database index from the path (`/2`); default 0. */
  db: number;
  /** ACL user name, when the URL has one. */
  username?: string;
  /** Password, percent-decoded; never log it. */
  password?: string;
  /** True for `rediss://`. */
  tls: boolean;
  /** From `?keyPrefix=`, when given. */
  keyPrefix?: string;
  /** `host:port` for messages (IPv6 in brackets). */
  address: string;
}

const EXAMPLE =
  'redis://127.0.0.1:6379, redis://:password@cache.internal:6379/2 or rediss://user:password@host:6380';
const URL_PARAMS = ['keyPrefix'];
const MESSAGE_PAGE = 500;
const SCAN_PAGE = 256;
const LOAD_WATCH_ATTEMPTS = 10;

/**
 * Reads a `redis://[[user]:password@]host[:port][/db][?keyPrefix=p]` or `rediss://…` URL.
 *
 * @throws HarnessError `memory_error` naming the URL (password redacted), the problem and an example.
 */
export function parseRedisUrl(url: string): RedisConnectionSettings {
  const shown = typeof url === 'string' ? redactUrl(url) : String(url);
  const fail = (problem: string, cause?: unknown): HarnessError =>
    memoryError(`memory URL "${shown}" ${problem}`, {
      ...(cause === undefined ? {} : { cause: scrubbedCause(cause, undefined) }),
      hint: `write it as redis://[:password@]host[:port][/db], for example ${EXAMPLE}`,
      details: { url: shown },
    });
  if (typeof url !== 'string' || !URL.canParse(url.trim())) throw fail('does not parse as a URL');
  const parsed = new URL(url.trim());
  const scheme = parsed.protocol.replace(/:$/, '');
  if (scheme !== 'redis' && scheme !== 'rediss') throw fail('is not a redis:// or rediss:// URL');
  if (parsed.hostname === '') throw fail('names no host');
  if (parsed.hash !== '') throw fail('has a #fragment, which redis:// URLs do not take');
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = parsed.port === '' ? 6379 : Number(parsed.port);
  if (port === 0) throw fail('has port 0');
  const path = parsed.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d{1,5}$/.test(path)) {
    throw fail(`has path "/${path}"; the path of a redis:// URL is the database number, e.g. /0`);
  }
  const decode = (text: string, what: string): string => {
    try {
      return decodeURIComponent(text);
    } catch (error) {
      throw fail(`has a malformed percent-escape in its ${what} (write % as %25)`, error);
    }
  };
  for (const name of parsed.searchParams.keys()) {
    if (!URL_PARAMS.includes(name)) {
      throw fail(`has the unknown parameter "${name}"; redis:// URLs take ${URL_PARAMS.join(', ')}`);
    }
  }
  const keyPrefix = parsed.searchParams.get('keyPrefix');
  const username = decode(parsed.username, 'user name');
  const password = decode(parsed.password, 'password');
  return {
    host,
    port,
    db: path === '' ? 0 : Number(path),
    ...(username === '' ? {} : { username }),
    ...(password === '' ? {} : { password }),
    tls: scheme === 'rediss',
    ...(keyPrefix === null ? {} : { keyPrefix }),
    address: `${host.includes(':') ? `[${host}]` : host}:${port}`,
  };
}

/** The Redis keys of one namespace (see the layout at the top of this file). */
export interface RedisNamespaceKeys {
  /** `<keyPrefix>{tenant:council:agent}:`, the start of every key below. */
  base: string;
  seq: string;
  msgs: string;
  /** The hash of key names → expiresAt. */
  kv: string;
  /** Prepended to a key name to get the key holding its value. */
  kvPrefix: string;
  docs: string;
  emb: string;
  dim: string;
}

/** The keys of a namespace under `keyPrefix`. */
export function redisNamespaceKeys(keyPrefix: string, ns: ResolvedNamespace): RedisNamespaceKeys {
  const base = `${keyPrefix}{${escapePart(ns.tenant)}:${escapePart(ns.council)}:${escapePart(ns.agent)}}:`;
  return {
    base,
    seq: `${base}seq`,
    msgs: `${base}msgs`,
    kv: `${base}kv`,
    kvPrefix: `${base}kv:`,
    docs: `${base}docs`,
    emb: `${base}emb`,
    dim: `${base}dim`,
  };
}

function escapePart(part: string): string {
  return part.replace(/[%:{}]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

// KEYS: seq, msgs. ARGV: the message array without its leading "[" and seq, e.g. `"user","hi",1700,{}]`.
const APPEND_LUA = `local seq = redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], '[' .. string.format('%d', seq) .. ',' .. ARGV[1])
return seq`;

// KEYS: docs, emb, dim. ARGV: id, document JSON, embedding bytes, dimension ('' = no embedding).
// Returns 0 when written, else the namespace's dimension (and writes nothing). `dim` counts only while
// `emb` is not empty: once no document has an embedding, the next one sets a new dimension.
const REMEMBER_LUA = `if ARGV[4] ~= '' then
  local n = tonumber(ARGV[4])
  local d = tonumber(redis.call('GET', KEYS[3]))
  if d and d ~= n and redis.call('HLEN', KEYS[2]) > 0 then return d end
  if d ~= n then redis.call('SET', KEYS[3], n) end
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
else
  redis.call('HDEL', KEYS[2], ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 0`;

// KEYS: the kv name hash. ARGV: kv key prefix, then names. Drops names whose key is gone (expired or
// deleted) from the hash, atomically so a name set again meanwhile is never dropped; returns how many
// of the names are live. The value keys are not in KEYS, but they share the namespace's hash tag and
// so its cluster slot.
const KV_LIVE_LUA = `local live = 0
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 1 then live = live + 1
  else redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return live`;

// KEYS: the kv name hash. ARGV: kv key prefix. Deletes every key of the namespace and the hash.
const KV_CLEAR_LUA = `local names = redis.call('HKEYS', KEYS[1])
for _, name in ipairs(names) do redis.call('DEL', ARGV[1] .. name) end
redis.call('DEL', KEYS[1])
return #names`;

/** The scripted commands `defineCommand` adds to the client and its pipelines. */
interface Scripts<R> {
  forgeAppend(seqKey: string, msgsKey: string, tail: string): R;
  forgeRemember(
    docsKey: string,
    embKey: string,
    dimKey: string,
    id: string,
    doc: string,
    embedding: Buffer | string,
    dimension: string,
  ): R;
  forgeKvLive(kvKey: string, kvPrefix: string, ...names: string[]): R;
  forgeKvClear(kvKey: string, kvPrefix: string): R;
}
type ScriptedClient = Redis & Scripts<Promise<unknown>>;
type ScriptedChain = ChainableCommander & Scripts<ChainableCommander>;

type RedisConstructor = new (options: RedisOptions) => Redis;

/** A document's embedding during vector recall, with the document once it has been read. */
interface Candidate extends VectorCandidate {
  doc?: ParsedDocument;
}

/**
 * Opens a store on Redis and waits until the server answers (authenticated, database selected).
 *
 * @param url `redis://[[user]:password@]host[:port][/db][?keyPrefix=p]` or `rediss://…` (TLS).
 * @throws HarnessError `memory_error`: a bad URL (with an example); ioredis not installed; the server
 * unreachable within `connectTimeoutMs` (retryable, naming host:port); a wrong or missing password
 * (not retryable). Never shows the password.
 */
export async function createRedisStore(url: string, options: RedisStoreOptions = {}): Promise<MemoryStore> {
  const settings = parseRedisUrl(url);
  const shownUrl = redactUrl(url.trim());
  const now = options.now ?? Date.now;
  const keyPrefix = options.keyPrefix ?? settings.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
  if (typeof keyPrefix !== 'string' || /[{}]/.test(keyPrefix)) {
    throw memoryError(`redis keyPrefix "${String(keyPrefix)}" must be a string without "{" or "}"`, {
      hint: `the namespace part of each key is the cluster hash tag; use a prefix such as "${DEFAULT_REDIS_KEY_PREFIX}"`,
    });
  }
  const connectTimeoutMs = positiveMs(
    options.connectTimeoutMs,
    'connectTimeoutMs',
    DEFAULT_REDIS_CONNECT_TIMEOUT_MS,
  );
  const commandTimeoutMs = positiveMs(
    options.commandTimeoutMs,
    'commandTimeoutMs',
    DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
  );
  const RedisClass = await loadDriver(settings.tls ? 'rediss' : 'redis');

  const { address, password } = settings;
  let lastError: Error | undefined;
  const client = new RedisClass({
    host: settings.host,
    port: settings.port,
    db: settings.db,
    ...(settings.username === undefined ? {} : { username: settings.username }),
    ...(password === undefined ? {} : { password }),
    ...(settings.tls ? { tls: {} } : {}),
    connectionName: 'forge-memory',
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    retryStrategy: (times: number) => Math.min(50 * 2 ** times, 2000),
    scripts: {
      forgeAppend: { lua: APPEND_LUA, numberOfKeys: 2 },
      forgeRemember: { lua: REMEMBER_LUA, numberOfKeys: 3 },
      forgeKvLive: { lua: KV_LIVE_LUA, numberOfKeys: 1 },
      forgeKvClear: { lua: KV_CLEAR_LUA, numberOfKeys: 1 },
    },
  }) as ScriptedClient;
  // Without a listener ioredis prints every connection error to the console; keep the last one for
  // the message of the next failed call instead.
  const onError = (error: Error): void => {
    lastError = error;
  };
  client.on('error', onError);
  client.on('ready', () => {
    lastError = undefined;
  });

  const fail = (error: unknown, action: string): HarnessError =>
    redisError(error, { address, password, action, lastError, status: client.status });

  try {
    await withDeadline(client.connect(), connectTimeoutMs + 1000);
  } catch (error) {
    client.disconnect();
    throw fail(lastError ?? error, 'connect to');
  }

  let closed = false;
  const call = async <T>(
    signal: AbortSignal | undefined,
    action: string,
    work: () => Promise<T>,
  ): Promise<T> => {
    throwIfAborted(signal);
    if (closed) {
      throw memoryError(`memory store ${shownUrl} is closed`, {
        hint: 'open a new store; a closed one cannot be reused',
      });
    }
    try {
      return await work();
    } catch (error) {
      throw fail(error, action);
    }
  };
  const keysOf = (ns: MemoryNamespace): RedisNamespaceKeys =>
    redisNamespaceKeys(keyPrefix, resolveNamespace(ns));

  /**
   * The namespace's dimension: the `dim` key while any document has an embedding. Two plain reads, no
   * MULTI, so it can run under `load`'s WATCH (EXEC would end the watch).
   */
  const dimensionOf = async (redis: Redis, keys: RedisNamespaceKeys): Promise<number | undefined> => {
    const [dim, count] = await Promise.all([redis.get(keys.dim), redis.hlen(keys.emb)]);
    return count > 0 && dim !== null ? Number(dim) : undefined;
  };

  /** The key names of a namespace with their `expiresAt` text ('' = never), page by page, each once. */
  async function* keyNames(
    keys: RedisNamespaceKeys,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<[name: string, expiresAt: string][]> {
    const seen = new Set<string>();
    let cursor = '0';
    do {
      throwIfAborted(signal);
      const [next, flat] = await client.hscan(keys.kv, cursor, 'COUNT', SCAN_PAGE);
      cursor = next;
      const fresh: [string, string][] = [];
      for (let index = 0; index + 1 < flat.length; index += 2) {
        const name = flat[index] as string;
        if (seen.has(name)) continue;
        seen.add(name);
        fresh.push([name, flat[index + 1] as string]);
      }
      if (fresh.length > 0) yield fresh;
    } while (cursor !== '0');
  }

  const store: MemoryStore = {
    url: shownUrl,

    append(ns: MemoryNamespace, message: MemoryMessageInput, callOptions: CallOptions = {}) {
      return call(callOptions.signal, 'append to', async () => {
        const keys = keysOf(ns);
        checkMessage(message);
        const meta = metaToJsonText(message.meta, 'message meta');
        const at = now();
        const seq = Number(
          await client.forgeAppend(keys.seq, keys.msgs, messageTail(message.role, message.content, at, meta)),
        );
        return {
          seq,
          role: message.role,
          content: message.content,
          at,
          ...(meta === undefined ? {} : { meta: JSON.parse(meta) as Record<string, unknown> }),
        };
      });
    },

    read(ns: MemoryNamespace, readOptions: ReadOptions = {}) {
      return call(readOptions.signal, 'read', async () => {
        const keys = keysOf(ns);
        const limit = checkLimit(readOptions.limit);
        if (limit === 0) return [];
        const entries = await client.lrange(keys.msgs, -limit, -1);
        return entries.map((entry) => toMessage(JSON.parse(entry) as MessageEntry));
      });
    },

    get<T = unknown>(ns: MemoryNamespace, key: string, callOptions: CallOptions = {}) {
      return call(callOptions.signal, 'read', async (): Promise<T | undefined> => {
        const keys = keysOf(ns);
        checkKey(key);
        const text = await client.get(keys.kvPrefix + key);
        return text === null ? undefined : (JSON.parse(text) as T);
      });
    },

    set(ns: MemoryNamespace, key: string, value: unknown, setOptions: SetOptions = {}) {
      return call(setOptions.signal, 'write to', async () => {
        const keys = keysOf(ns);
        checkKey(key);
        const ttlMs = checkTtl(key, setOptions.ttlMs);
        const text = toJsonText(value, `value of memory key "${key}"`);
        const multi = client.multi();
        if (ttlMs === undefined) multi.set(keys.kvPrefix + key, text).hset(keys.kv, key, '');
        // PX takes whole milliseconds; rounding up never expires a key before its time.
        else
          multi
            .set(keys.kvPrefix + key, text, 'PX', Math.ceil(ttlMs))
            .hset(keys.kv, key, String(now() + ttlMs));
        await execAll(multi);
      });
    },

    delete(ns: MemoryNamespace, key: string, callOptions: CallOptions = {}) {
      return call(callOptions.signal, 'write to', async () => {
        const keys = keysOf(ns);
        checkKey(key);
        // DEL does not count a key whose TTL has passed, as the contract wants.
        const [deleted] = await execAll(
          client
            .multi()
            .del(keys.kvPrefix + key)
            .hdel(keys.kv, key),
        );
        return Number(deleted) === 1;
      });
    },

    remember(ns: MemoryNamespace, doc: MemoryDocumentInput, callOptions: CallOptions = {}) {
      return call(callOptions.signal, 'write to', async () => {
        const keys = keysOf(ns);
        const id = checkDocument(doc) ?? randomUUID();
        const meta = metaToJsonText(doc.meta, `meta of memory document "${id}"`);
        const what = `embedding of memory document "${id}"`;
        const embedding = doc.embedding === undefined ? undefined : checkEmbedding(doc.embedding, what);
        const dimension = Number(
          await client.forgeRemember(
            keys.docs,
            keys.emb,
            keys.dim,
            id,
            documentJson(doc.text, meta, documentStats(doc.text)),
            embedding === undefined ? '' : toBuffer(toFloat32Bytes(embedding)),
            embedding === undefined ? '' : String(embedding.length),
          ),
        );
        if (dimension !== 0) checkDimension(embedding?.length ?? 0, dimension, what);
        return id;
      });
    },

    recall(ns: MemoryNamespace, query: string, recallOptions: RecallOptions = {}): Promise<RecallHit[]> {
      const { signal } = recallOptions;
      return call(signal, 'read', async () => {
        const keys = keysOf(ns);
        if (typeof query !== 'string') throw memoryError('recall query must be a string');
        const k = checkK(recallOptions.k);
        const filter = checkFilter(recallOptions.filter);
        if (recallOptions.embedding === undefined) {
          const docs = await client.hgetall(keys.docs);
          throwIfAborted(signal);
          const candidates = Object.entries(docs).map(([id, json]) => parseDocument(id, json));
          return rankBm25(candidates, query, { k, filter });
        }
        const vector = checkEmbedding(recallOptions.embedding, 'recall embedding');
        const dimension = await dimensionOf(client, keys);
        if (dimension === undefined) return [];
        checkDimension(vector.length, dimension, 'recall embedding');
        // Scan the embeddings in pages, keeping only the best k so far (exact top-k, bounded memory).
        let best: CosineHit<Candidate>[] = [];
        const seen = new Set<string>();
        let cursor = '0';
        do {
          throwIfAborted(signal);
          const [next, flat] = await client.hscanBuffer(keys.emb, cursor, 'COUNT', SCAN_PAGE);
          cursor = next.toString();
          const page: Candidate[] = [];
          for (let index = 0; index + 1 < flat.length; index += 2) {
            const id = (flat[index] as Buffer).toString();
            if (seen.has(id)) continue;
            seen.add(id);
            page.push({ id, embedding: fromFloat32Bytes(flat[index + 1] as Buffer) });
          }
          if (filter !== undefined && page.length > 0) {
            // The filter reads meta, which lives with the text in `docs`.
            const jsons = await client.hmget(keys.docs, ...page.map((candidate) => candidate.id));
            page.forEach((candidate, index) => {
              const json = jsons[index];
              if (json == null) return;
              candidate.doc = parseDocument(candidate.id, json);
              candidate.meta = candidate.doc.meta;
            });
          }
          best = rankByCosine([...best.map((hit) => hit.candidate), ...page], vector, { k, filter });
        } while (cursor !== '0');
        const missing = best.filter((hit) => hit.candidate.doc === undefined).map((hit) => hit.candidate);
        if (missing.length > 0) {
          const jsons = await client.hmget(keys.docs, ...missing.map((candidate) => candidate.id));
          missing.forEach((candidate, index) => {
            const json = jsons[index];
            if (json != null) candidate.doc = parseDocument(candidate.id, json);
          });
        }
        // A document replaced between the scan and this read shows its new text; one gone is left out.
        return best.flatMap(({ candidate: { id, doc }, score }): RecallHit[] =>
          doc === undefined
            ? []
            : [{ id, text: doc.text, ...(doc.meta === undefined ? {} : { meta: doc.meta }), score }],
        );
      });
    },

    dump(ns: MemoryNamespace, callOptions: CallOptions = {}): AsyncIterable<MemoryRecord> {
      const { signal } = callOptions;
      const page = <T>(work: () => Promise<T>): Promise<T> => call(signal, 'read', work);
      return (async function* (): AsyncGenerator<MemoryRecord> {
        const keys = await page(async () => keysOf(ns));
        for (let start = 0; ; start += MESSAGE_PAGE) {
          const entries = await page(() => client.lrange(keys.msgs, start, start + MESSAGE_PAGE - 1));
          for (const entry of entries) {
            const message = toMessage(JSON.parse(entry) as MessageEntry);
            yield { kind: 'message', ...message };
          }
          if (entries.length < MESSAGE_PAGE) break;
        }
        const names = keyNames(keys, signal);
        while (true) {
          const next = await page(() => names.next());
          if (next.done === true) break;
          const values = await page(() => client.mget(next.value.map(([name]) => keys.kvPrefix + name)));
          const at = now();
          for (const [index, [name, expires]] of next.value.entries()) {
            const text = values[index];
            // Gone (deleted, or expired by the server's clock) or past its expiresAt by ours.
            if (text == null || (expires !== '' && Number(expires) <= at)) continue;
            yield {
              kind: 'kv',
              key: name,
              value: JSON.parse(text),
              ...(expires === '' ? {} : { expiresAt: Number(expires) }),
            };
          }
        }
        const seen = new Set<string>();
        let cursor = '0';
        do {
          const [next, flat] = await page(() => client.hscan(keys.docs, cursor, 'COUNT', SCAN_PAGE));
          cursor = next;
          const docs: ParsedDocument[] = [];
          for (let index = 0; index + 1 < flat.length; index += 2) {
            const id = flat[index] as string;
            if (seen.has(id)) continue;
            seen.add(id);
            docs.push(parseDocument(id, flat[index + 1] as string));
          }
          if (docs.length === 0) continue;
          const vectors = await page(() => client.hmgetBuffer(keys.emb, ...docs.map((doc) => doc.id)));
          for (const [index, doc] of docs.entries()) {
            const bytes = vectors[index];
            yield {
              kind: 'document',
              id: doc.id,
              text: doc.text,
              ...(doc.meta === undefined ? {} : { meta: doc.meta }),
              ...(bytes == null ? {} : { embedding: fromFloat32Bytes(bytes) }),
            };
          }
        } while (cursor !== '0');
      })();
    },

    load(ns: MemoryNamespace, records, loadOptions: LoadOptions = {}) {
      const { signal } = loadOptions;
      return call(signal, 'load into', async () => {
        const keys = keysOf(ns);
        const mode = checkLoadMode(loadOptions.mode);
        const before = mode === 'append' ? await dimensionOf(client, keys) : undefined;
        const prepared = await prepareLoad(records, { mode, dimension: before, signal });
        if (prepared.records.length === 0 && mode === 'append') return 0;
        const embeds = prepared.records.some(
          (record) => record.kind === 'document' && record.embedding !== undefined,
        );
        if (mode === 'replace' || !embeds || prepared.dimension === undefined) {
          await execAll(loadTransaction(client.multi() as ScriptedChain, keys, prepared, mode, now()));
          return prepared.records.length;
        }
        // Appending embeddings: the namespace's dimension must not change between the check and the
        // write. WATCH needs a connection of its own, since this client's commands interleave.
        const watcher = client.duplicate() as ScriptedClient;
        watcher.on('error', onError);
        try {
          await withDeadline(watcher.connect(), connectTimeoutMs + 1000);
          for (let attempt = 1; attempt <= LOAD_WATCH_ATTEMPTS; attempt++) {
            throwIfAborted(signal);
            await watcher.watch(keys.dim, keys.emb);
            const dimension = await dimensionOf(watcher, keys);
            checkDimension(prepared.dimension, dimension, 'every loaded embedding');
            const replies = await loadTransaction(
              watcher.multi() as ScriptedChain,
              keys,
              prepared,
              mode,
              now(),
            ).exec();
            if (replies !== null) {
              throwReplyErrors(replies);
              return prepared.records.length;
            }
          }
          throw memoryError(
            `load into ${shownUrl} gave up after ${LOAD_WATCH_ATTEMPTS} attempts: other writers kept changing the namespace's embeddings`,
            { isRetryable: true, hint: 'retry the load, or load while no agent writes to this namespace' },
          );
        } finally {
          watcher.disconnect();
        }
      });
    },

    stats(ns: MemoryNamespace, callOptions: CallOptions = {}): Promise<MemoryStats> {
      const { signal } = callOptions;
      return call(signal, 'read', async () => {
        const keys = keysOf(ns);
        const [messages, documents, embedded, dim] = await execAll(
          client.multi().llen(keys.msgs).hlen(keys.docs).hlen(keys.emb).get(keys.dim),
        );
        let live = 0;
        for await (const names of keyNames(keys, signal)) {
          live += Number(await client.forgeKvLive(keys.kv, keys.kvPrefix, ...names.map(([name]) => name)));
        }
        return {
          messages: Number(messages),
          keys: live,
          documents: Number(documents),
          ...(Number(embedded) > 0 && dim !== null ? { dimension: Number(dim) } : {}),
        };
      });
    },

    ping(callOptions: CallOptions = {}) {
      return call(callOptions.signal, 'reach', async () => {
        await client.ping();
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      try {
        await withDeadline(client.quit(), 1000);
      } catch {
        // The server is down or slow; dropping the socket is all that is left to do.
      } finally {
        client.disconnect();
      }
    },
  };
  return store;
}

/** A message as stored in the `msgs` list. */
type MessageEntry = [
  seq: number,
  role: MemoryRole,
  content: string,
  at: number,
  meta?: Record<string, unknown>,
];

/** The JSON of a message after its seq (the append script puts `[seq,` in front). */
function messageTail(role: MemoryRole, content: string, at: number, meta: string | undefined): string {
  return `${JSON.stringify(role)},${JSON.stringify(content)},${JSON.stringify(at)}${meta === undefined ? '' : `,${meta}`}]`;
}

function toMessage(entry: MessageEntry): MemoryMessage {
  const [seq, role, content, at, meta] = entry;
  return { seq, role, content, at, ...(meta === undefined ? {} : { meta }) };
}

interface ParsedDocument {
  id: string;
  text: string;
  meta?: Record<string, unknown>;
  stats: DocStats;
}

function documentJson(text: string, meta: string | undefined, stats: DocStats): string {
  return `[${JSON.stringify(text)},${meta ?? 'null'},${JSON.stringify([stats.length, [...stats.tf]])}]`;
}

function parseDocument(id: string, json: string): ParsedDocument {
  const [text, meta, stats] = JSON.parse(json) as [string, Record<string, unknown> | null, unknown];
  return { id, text, ...(meta === null ? {} : { meta }), stats: statsFromJson(JSON.stringify(stats)) };
}

/** Queues the writes of a validated load on a MULTI. */
function loadTransaction(
  multi: ScriptedChain,
  keys: RedisNamespaceKeys,
  prepared: PreparedLoad,
  mode: 'append' | 'replace',
  at: number,
): ScriptedChain {
  if (mode === 'replace') {
    multi.del(keys.seq, keys.msgs, keys.docs, keys.emb, keys.dim);
    multi.forgeKvClear(keys.kv, keys.kvPrefix);
    const messages = prepared.records.flatMap((record) => (record.kind === 'message' ? [record] : []));
    messages.sort((a, b) => a.seq - b.seq);
    for (const message of messages) {
      multi.rpush(
        keys.msgs,
        `[${message.seq},${messageTail(message.role, message.content, message.at, message.meta)}`,
      );
    }
    if (messages.length > 0) multi.set(keys.seq, String(messages.at(-1)?.seq));
  }
  for (const record of prepared.records) {
    switch (record.kind) {
      case 'message':
        if (mode === 'append') {
          multi.forgeAppend(
            keys.seq,
            keys.msgs,
            messageTail(record.role, record.content, record.at, record.meta),
          );
        }
        break;
      case 'kv': {
        const key = keys.kvPrefix + record.key;
        const ttl = record.expiresAt === undefined ? undefined : Math.ceil(record.expiresAt - at);
        if (ttl !== undefined && ttl <= 0) {
          // Already expired: the upsert leaves no live key behind.
          multi.del(key).hdel(keys.kv, record.key);
        } else {
          if (ttl === undefined) multi.set(key, record.value);
          else multi.set(key, record.value, 'PX', ttl);
          multi.hset(keys.kv, record.key, record.expiresAt === undefined ? '' : String(record.expiresAt));
        }
        break;
      }
      case 'document':
        multi.hset(keys.docs, record.id, documentJson(record.text, record.meta, documentStats(record.text)));
        if (record.embedding === undefined) multi.hdel(keys.emb, record.id);
        else multi.hset(keys.emb, record.id, toBuffer(toFloat32Bytes(record.embedding)));
        break;
    }
  }
  const embeds = prepared.records.some(
    (record) => record.kind === 'document' && record.embedding !== undefined,
  );
  if (embeds && prepared.dimension !== undefined) multi.set(keys.dim, String(prepared.dimension));
  return multi;
}

/** Runs a MULTI and returns its replies, throwing the first command error. */
async function execAll(multi: ChainableCommander): Promise<unknown[]> {
  const replies = await multi.exec();
  if (replies === null) throw new Error('the transaction was aborted');
  return throwReplyErrors(replies);
}

function throwReplyErrors(replies: [error: Error | null, result: unknown][]): unknown[] {
  for (const [error] of replies) if (error !== null) throw error;
  return replies.map(([, result]) => result);
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function positiveMs(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw memoryError(`${name} must be a whole number of milliseconds > 0, got ${String(value)}`, {
      hint: `leave ${name} out for the default (${fallback} ms)`,
    });
  }
  return value;
}

/** Rejects when `promise` has not settled within `ms` (a backstop behind the driver's own timeouts). */
async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function loadDriver(scheme: string): Promise<RedisConstructor> {
  let module: Record<string, unknown>;
  try {
    module = (await import('ioredis')) as unknown as Record<string, unknown>;
  } catch (error) {
    const missing = (error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND';
    throw memoryError(
      missing
        ? `install ioredis to use ${scheme}:// URLs`
        : `cannot load ioredis for ${scheme}:// URLs: ${String(error)}`,
      {
        cause: error,
        hint: missing
          ? 'run `npm install ioredis` (an optional peer dependency of forge-harness)'
          : 'reinstall ioredis (version 5 or 6)',
      },
    );
  }
  const fallback = module.default as Record<string, unknown> | undefined;
  const driver = module.Redis ?? fallback?.Redis ?? fallback;
  if (typeof driver !== 'function') {
    throw memoryError(`the installed ioredis exports no Redis client for ${scheme}:// URLs`, {
      hint: 'install ioredis version 5 or 6',
    });
  }
  return driver as RedisConstructor;
}

// Server replies that mean "try again shortly": loading a dump, a script running too long, a
// failover or resharding in progress.
const RETRYABLE_REPLIES = new Set([
  'LOADING',
  'BUSY',
  'TRYAGAIN',
  'CLUSTERDOWN',
  'MASTERDOWN',
  'READONLY',
  'MOVED',
  'ASK',
]);
const AUTH_REPLIES = new Set(['WRONGPASS', 'NOAUTH', 'NOPERM']);

interface ErrorContext {
  address: string;
  password: string | undefined;
  action: string;
  lastError: Error | undefined;
  status: string;
}

/**
 * Maps a driver error to a `memory_error` naming host:port and the fix. Connection failures are
 * retryable; a server reply is retryable only when it says so (LOADING, READONLY during failover, ...).
 */
function redisError(error: unknown, context: ErrorContext): HarnessError {
  if (HarnessError.isInstance(error)) return error;
  const { address, password, action } = context;
  const scrub = (text: string): string => (password === undefined ? text : text.split(password).join('***'));
  const reason = scrub(error instanceof Error ? error.message : String(error));
  const cause = scrubbedCause(error, password);
  const where = `redis memory at ${address}`;
  const isReply = error instanceof Error && error.name === 'ReplyError';
  if (isReply) {
    const reply = /^[A-Z]+/.exec(reason)?.[0] ?? '';
    const base = `cannot ${action} ${where}: the server replied ${reason}`;
    const details = { address, reply };
    if (AUTH_REPLIES.has(reply)) {
      return memoryError(base, {
        cause,
        details,
        hint: `check the user name and password in the redis:// URL (redis://:password@${address}) against the server's requirepass or ACL`,
      });
    }
    if (reply === 'OOM') {
      return memoryError(base, {
        cause,
        details,
        hint: `the server at ${address} reached maxmemory; raise it, set an eviction policy, or free memory`,
      });
    }
    if (reply === 'WRONGTYPE') {
      return memoryError(base, {
        cause,
        details,
        hint: 'another program writes keys under this key prefix; give the store its own keyPrefix',
      });
    }
    if (RETRYABLE_REPLIES.has(reply)) {
      return memoryError(base, {
        cause,
        details,
        isRetryable: true,
        hint: `the server at ${address} is starting, failing over or busy; retry shortly`,
      });
    }
    return memoryError(base, {
      cause,
      details,
      hint: `check the server at ${address} (version ≥ 6.2, not a proxy that refuses scripts)`,
    });
  }
  // Not a reply: the connection is down, timed out or dropped mid-command. The driver's message for a
  // refused command ("Stream isn't writeable …") says little, so name the last connection error too.
  const last = context.lastError === undefined ? '' : scrub(context.lastError.message);
  const why = last !== '' && last !== reason ? `${reason}; last connection error: ${last}` : reason;
  return memoryError(`cannot ${action} ${where}: the connection is down (${why})`, {
    cause,
    isRetryable: true,
    details: { address, status: context.status },
    hint: `check that Redis is running at ${address} and reachable from here (host, port, firewall, TLS for rediss://); the store reconnects by itself, so retry the call`,
  });
}

/**
 * A copy of a driver error that is safe to keep: message (scrubbed), name and code only. ioredis puts
 * the failed command's arguments on its errors, and for HELLO/AUTH those include the password.
 */
function scrubbedCause(error: unknown, password: string | undefined): Error {
  const message = error instanceof Error ? error.message : String(error);
  const copy = new Error(password === undefined ? message : message.split(password).join('***'));
  if (error instanceof Error) copy.name = error.name;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') Object.assign(copy, { code });
  return copy;
}
