/**
 * memory: every memory backend available on this machine, on the same run — appends/s and reads/s at
 * 1 and 32 concurrent clients (async loops in one process), vector recall latency (p50/p95) and
 * recall@10 against exact brute force at 10k and 100k stored documents (256-dim vectors from the
 * simulated embedder), load speed and RSS.
 *
 * The parent process builds the corpus and the brute-force truth once, then runs each backend in a
 * child process of its own, so RSS is that backend's alone and a backend that fails or hangs costs
 * only its own figures. Progress goes to stderr; the last stdout line is one JSON object.
 *
 * Knobs (environment), defaults sized for ≈ 5 minutes on 2 vCPUs:
 * - BENCH_MEMORY_BACKENDS  comma list, default memory,sqlite,redis,postgres,pglite,lmdb
 * - BENCH_MEMORY_SIZES     stored documents for recall, default 10000,100000
 * - BENCH_MEMORY_SECONDS   length of each append/read phase in seconds, default 2
 * - BENCH_MEMORY_CLIENTS   concurrent clients of the second phase, default 32
 * - BENCH_MEMORY_QUERIES   recall queries per size at most, default 40
 * - BENCH_MEMORY_RECALL_SECONDS  time budget for the queries of one size, default 6
 * - BENCH_MEMORY_LOAD_SECONDS    a size is skipped when loading it is projected to take longer, default 60
 * - BENCH_MEMORY_TIMEOUT_SECONDS one backend's whole run at most (then killed), default 150
 * - BENCH_MEMORY_CACHE=0        rebuild the corpus instead of reusing the one cached in the OS temp dir
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { knownMemorySchemes, type MemoryStore, openMemoryStore, simulatedEmbedding } from 'forge-harness';
import type { MemoryRecord } from '../src/memory/store.ts';

const DIMENSION = 256;
const K = 10;
const ALL_BACKENDS = ['memory', 'sqlite', 'redis', 'postgres', 'pglite', 'lmdb'] as const;
type BackendName = (typeof ALL_BACKENDS)[number];

const env = process.env;
const num = (name: string, fallback: number): number => {
  const value = Number(env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`${name}="${env[name]}" is not a positive number`);
  return value;
};
const sizes = (env.BENCH_MEMORY_SIZES ?? '10000,100000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0)
  .sort((a, b) => a - b);
const phaseSeconds = num('BENCH_MEMORY_SECONDS', 2);
const manyClients = num('BENCH_MEMORY_CLIENTS', 32);
const maxQueries = num('BENCH_MEMORY_QUERIES', 40);
const recallSeconds = num('BENCH_MEMORY_RECALL_SECONDS', 6);
const loadSeconds = num('BENCH_MEMORY_LOAD_SECONDS', 60);
const timeoutSeconds = num('BENCH_MEMORY_TIMEOUT_SECONDS', 150);

const log = (text: string): void => {
  process.stderr.write(`${text}\n`);
};

/** mulberry32: the same corpus on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Support-desk-like texts from a 3000-word vocabulary, so vectors overlap the way real notes do. */
function makeTexts(count: number, seed: number, words: [number, number]): string[] {
  const random = seededRandom(seed);
  const vocabulary = Array.from({ length: 3000 }, (_, i) => {
    const syllables = ['ka', 'lo', 'mi', 're', 'su', 'ta', 'ne', 'vo', 'pi', 'da', 'shi', 'gu', 'ro', 'fe'];
    let word = '';
    let n = i + 1;
    while (n > 0) {
      word += syllables[n % syllables.length];
      n = Math.floor(n / syllables.length);
    }
    return word;
  });
  // Zipf-like: a few words are common, most are rare, as in real text.
  const pick = (): string => vocabulary[Math.floor(vocabulary.length * random() ** 2.5)] as string;
  return Array.from({ length: count }, () => {
    const length = words[0] + Math.floor(random() * (words[1] - words[0] + 1));
    return Array.from({ length }, pick).join(' ');
  });
}

/** Embeds texts into one float32 array (row i = text i), L2-normalised by the embedder. */
function embedAll(texts: string[]): Float32Array {
  const out = new Float32Array(texts.length * DIMENSION);
  texts.forEach((text, i) => {
    out.set(simulatedEmbedding(text, DIMENSION), i * DIMENSION);
  });
  return out;
}

/** Exact top-k ids by cosine over the first `size` rows, ties by id (= row order). */
function bruteForce(corpus: Float32Array, size: number, query: Float32Array): number[] {
  const best: { row: number; score: number }[] = [];
  let qNorm = 0;
  for (let d = 0; d < DIMENSION; d++) qNorm += (query[d] as number) ** 2;
  for (let row = 0; row < size; row++) {
    let dot = 0;
    let norm = 0;
    const base = row * DIMENSION;
    for (let d = 0; d < DIMENSION; d++) {
      const x = corpus[base + d] as number;
      dot += x * (query[d] as number);
      norm += x * x;
    }
    const score = norm === 0 ? -2 : dot / Math.sqrt(norm * qNorm);
    if (best.length === K && score <= (best[K - 1] as { score: number }).score) continue;
    let at = best.length;
    while (at > 0 && score > (best[at - 1] as { score: number }).score) at--;
    best.splice(at, 0, { row, score });
    if (best.length > K) best.pop();
  }
  return best.map((b) => b.row);
}

const docId = (row: number): string => `d${String(row).padStart(7, '0')}`;
const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
const round = (value: number, digits = 2): number => Number(value.toFixed(digits));

// ---------------------------------------------------------------------------------------------------
// Child: one backend.

/** RSS in MiB after a full GC (the child runs with --expose-gc), so garbage does not count. */
function rssMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return round(process.memoryUsage().rss / 2 ** 20, 0);
}

interface ChildFigures {
  appends_per_s?: number;
  appends_per_s_32?: number;
  reads_per_s?: number;
  reads_per_s_32?: number;
  load_docs_per_s?: number;
  recall?: Record<
    string,
    { p50_ms: number; p95_ms: number; recall_at_10: number; queries: number } | { skipped: string }
  >;
  recall_at_10?: number;
  /** After the append/read phases (threads emptied) and reading the corpus, before loading documents. */
  rss_before_load_mb?: number;
  /** At the end, with the largest corpus loaded. */
  rss_mb?: number;
  max_rss_mb?: number;
  disk_mb?: number;
  error?: string;
}

async function timed(clients: number, op: (client: number) => Promise<unknown>): Promise<number> {
  const end = performance.now() + phaseSeconds * 1000;
  let count = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (performance.now() < end) {
        await op(client);
        count++;
      }
    }),
  );
  return count / ((performance.now() - start) / 1000);
}

async function runChild(name: BackendName, url: string, dataDir: string): Promise<void> {
  const figures: ChildFigures = {};
  const say = (text: string) => log(`[${name}] ${text}`);
  let store: MemoryStore | undefined;
  try {
    store = await openMemoryStore(url);
    const s = store;
    const tenant = `bench-${randomBytes(3).toString('hex')}`;
    const thread = (client: number) => ({ tenant, council: 'bench', agent: `c${client}` });
    const content =
      'Where is my order 12345? It was due on Monday and the tracking page has not changed since.';
    for (let i = 0; i < 20; i++) await s.append(thread(0), { role: 'user', content });

    for (const clients of [1, manyClients]) {
      const perS = await timed(clients, (c) =>
        s.append(thread(c), { role: 'user', content, meta: { n: c } }),
      );
      say(`appends at ${clients} client${clients === 1 ? '' : 's'}: ${perS.toFixed(0)}/s`);
      if (clients === 1) figures.appends_per_s = round(perS, 0);
      else figures.appends_per_s_32 = round(perS, 0);
    }
    for (const clients of [1, manyClients]) {
      const perS = await timed(clients, (c) => s.read(thread(c), { limit: 20 }));
      say(`reads (last 20) at ${clients} client${clients === 1 ? '' : 's'}: ${perS.toFixed(0)}/s`);
      if (clients === 1) figures.reads_per_s = round(perS, 0);
      else figures.reads_per_s_32 = round(perS, 0);
    }

    // Empty the threads again, so RSS below is the documents' and not millions of appended messages.
    for (let c = 0; c < manyClients; c++) await s.load(thread(c), [], { mode: 'replace' });
    const corpusBytes = readFileSync(join(dataDir, 'corpus.f32'));
    const corpus = new Float32Array(corpusBytes.buffer, corpusBytes.byteOffset, corpusBytes.byteLength / 4);
    const texts = JSON.parse(readFileSync(join(dataDir, 'texts.json'), 'utf8')) as string[];
    const queryBytes = readFileSync(join(dataDir, 'queries.f32'));
    const queries = new Float32Array(queryBytes.buffer, queryBytes.byteOffset, queryBytes.byteLength / 4);
    const truth = JSON.parse(readFileSync(join(dataDir, 'truth.json'), 'utf8')) as Record<string, number[][]>;
    const recallNs = { tenant, council: 'bench-recall' };
    figures.rss_before_load_mb = rssMb();
    figures.recall = {};
    let loaded = 0;
    let loadMs = 0;
    for (const size of sizes) {
      if (loaded > 0) {
        const projected = ((size - loaded) * (loadMs / loaded)) / 1000;
        if (projected > loadSeconds) {
          const why = `loading ${size - loaded} more documents projected at ${projected.toFixed(0)} s (> BENCH_MEMORY_LOAD_SECONDS=${loadSeconds})`;
          say(`${size} documents skipped: ${why}`);
          figures.recall[String(size)] = { skipped: why };
          continue;
        }
      }
      const start = performance.now();
      const batch = 2000;
      for (let from = loaded; from < size; from += batch) {
        const records: MemoryRecord[] = [];
        for (let row = from; row < Math.min(size, from + batch); row++) {
          records.push({
            kind: 'document',
            id: docId(row),
            text: texts[row] as string,
            meta: { row, shard: row % 8 },
            embedding: Array.from(corpus.subarray(row * DIMENSION, (row + 1) * DIMENSION)),
          });
        }
        await s.load(recallNs, records);
      }
      loadMs += performance.now() - start;
      say(
        `loaded ${size} documents (${((size - loaded) / ((performance.now() - start) / 1000)).toFixed(0)} docs/s)`,
      );
      loaded = size;
      figures.load_docs_per_s = round(loaded / (loadMs / 1000), 0);

      const latencies: number[] = [];
      let found = 0;
      const budgetEnd = performance.now() + recallSeconds * 1000;
      const sizeTruth = truth[String(size)] as number[][];
      for (let q = 0; q < sizeTruth.length; q++) {
        if (q >= 3 && performance.now() > budgetEnd) break;
        const embedding = Array.from(queries.subarray(q * DIMENSION, (q + 1) * DIMENSION));
        const t0 = performance.now();
        const hits = await s.recall(recallNs, '', { k: K, embedding });
        latencies.push(performance.now() - t0);
        const want = new Set((sizeTruth[q] as number[]).map(docId));
        found += hits.filter((hit) => want.has(hit.id)).length;
      }
      latencies.sort((a, b) => a - b);
      const result = {
        p50_ms: round(percentile(latencies, 0.5), 3),
        p95_ms: round(percentile(latencies, 0.95), 3),
        recall_at_10: round(found / (latencies.length * K), 4),
        queries: latencies.length,
      };
      figures.recall[String(size)] = result;
      figures.recall_at_10 = result.recall_at_10;
      say(
        `recall at ${size}: p50 ${result.p50_ms} ms, p95 ${result.p95_ms} ms, recall@10 ${result.recall_at_10} (${result.queries} queries)`,
      );
    }
  } catch (error) {
    figures.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    say(`failed: ${figures.error}`);
  } finally {
    figures.rss_mb = rssMb();
    figures.max_rss_mb = round(process.resourceUsage().maxRSS / 1024, 0);
    await store?.close().catch(() => undefined);
  }
  const path = url.replace(/^[a-z]+:\/\//, '');
  if (['sqlite', 'pglite', 'lmdb'].includes(name)) figures.disk_mb = round(diskBytes(path) / 2 ** 20, 1);
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

function diskBytes(path: string): number {
  try {
    const stat = statSync(path);
    if (!stat.isDirectory()) {
      // SQLite: the file and its -wal/-shm siblings.
      return ['', '-wal', '-shm'].reduce((sum, suffix) => {
        try {
          return sum + statSync(path + suffix).size;
        } catch {
          return sum;
        }
      }, 0);
    }
    return readdirSync(path, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .reduce((sum, entry) => sum + statSync(join(entry.parentPath, entry.name)).size, 0);
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------------
// Parent: corpus, truth, one child per backend, the JSON line.

async function available(name: BackendName, url: string): Promise<string | undefined> {
  const scheme = name;
  if (!knownMemorySchemes().includes(scheme)) return `no backend registers ${scheme}:// in this build`;
  if (name !== 'redis' && name !== 'postgres') return undefined;
  let store: MemoryStore | undefined;
  try {
    store = await openMemoryStore(url);
    await store.ping();
    return undefined;
  } catch (error) {
    return `server not reachable: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
  } finally {
    await store?.close().catch(() => undefined);
  }
}

function runInChild(name: BackendName, url: string, dataDir: string): Promise<ChildFigures> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--conditions=forge-source', '--expose-gc', fileURLToPath(import.meta.url)],
      {
        env: { ...env, BENCH_MEMORY_CHILD: name, BENCH_MEMORY_URL: url, BENCH_MEMORY_DATA: dataDir },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const timer = setTimeout(() => {
      log(`[${name}] killed after BENCH_MEMORY_TIMEOUT_SECONDS=${timeoutSeconds}`);
      child.kill('SIGKILL');
    }, timeoutSeconds * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last) as ChildFigures);
      } catch {
        resolve({ error: `child exited with ${signal ?? code} before reporting` });
      }
    });
  });
}

async function cleanupServer(name: BackendName, run: string): Promise<void> {
  try {
    if (name === 'redis') {
      const { Redis } = await import('ioredis');
      const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
      await redis.connect();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `forge-bench:${run}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
      redis.disconnect();
    } else if (name === 'postgres') {
      const pg = await import('pg');
      const client = new pg.default.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS forge_bench_${run} CASCADE`);
      await client.end();
    }
  } catch (error) {
    log(`[${name}] cleanup failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Writes the corpus (texts, float32 vectors), the queries and the brute-force truth into a cache
 * directory the children read, and returns it. Embedding 100k texts takes ~15-30 s here, so the
 * files are kept in the OS temp dir for the next run (BENCH_MEMORY_CACHE=0 rebuilds them).
 */
function prepareCorpus(largest: number): string {
  const key = `v1-${DIMENSION}-${largest}-${maxQueries}-${sizes.join('_')}`;
  const dir = join(tmpdir(), `forge-bench-memory-corpus-${key}`);
  if (env.BENCH_MEMORY_CACHE !== '0' && existsSync(join(dir, 'truth.json'))) {
    log(`corpus from cache ${dir}`);
    return dir;
  }
  log(`embedding ${largest} documents and ${maxQueries} queries (${DIMENSION}-dim simulated embedder)...`);
  const texts = makeTexts(largest, 0xc0ffee, [6, 14]);
  const corpus = embedAll(texts);
  const queries = embedAll(makeTexts(maxQueries, 0xbeef, [3, 6]));
  log(`brute-force truth for ${sizes.join(', ')} documents...`);
  const truth: Record<string, number[][]> = {};
  for (const size of sizes) {
    truth[String(size)] = Array.from({ length: maxQueries }, (_, q) =>
      bruteForce(corpus, size, queries.subarray(q * DIMENSION, (q + 1) * DIMENSION)),
    );
  }
  // Written under another name and renamed, so an interrupted run never leaves a half cache.
  const part = `${dir}.${process.pid}.part`;
  rmSync(part, { recursive: true, force: true });
  mkdirSync(part, { recursive: true });
  writeFileSync(join(part, 'corpus.f32'), new Uint8Array(corpus.buffer));
  writeFileSync(join(part, 'queries.f32'), new Uint8Array(queries.buffer));
  writeFileSync(join(part, 'texts.json'), JSON.stringify(texts));
  writeFileSync(join(part, 'truth.json'), JSON.stringify(truth));
  rmSync(dir, { recursive: true, force: true });
  renameSync(part, dir);
  return dir;
}

async function runParent(): Promise<void> {
  const started = performance.now();
  const run = randomBytes(4).toString('hex');
  const dataDir = mkdtempSync(join(tmpdir(), 'forge-bench-memory-'));
  const wanted = (env.BENCH_MEMORY_BACKENDS ?? ALL_BACKENDS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter((s): s is BackendName => (ALL_BACKENDS as readonly string[]).includes(s));
  const urls: Record<BackendName, string> = {
    memory: 'memory://',
    sqlite: `sqlite://${join(dataDir, 'sqlite', 'bench.db')}`,
    redis: `redis://127.0.0.1:6379/0?keyPrefix=${encodeURIComponent(`forge-bench:${run}:`)}`,
    postgres: `postgres://postgres@127.0.0.1:5432/test?schema=forge_bench_${run}`,
    pglite: `pglite://${join(dataDir, 'pglite')}`,
    lmdb: `lmdb://${join(dataDir, 'lmdb')}`,
  };
  try {
    const largest = sizes.at(-1) ?? 0;
    log(
      `memory bench: backends ${wanted.join(', ')}; sizes ${sizes.join(', ')}; ${phaseSeconds} s per phase`,
    );
    const corpusDir = prepareCorpus(largest);
    log(`corpus ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const backends: Record<string, ChildFigures> = {};
    const skipped: Record<string, string> = {};
    for (const name of wanted) {
      const why = await available(name, urls[name]);
      if (why !== undefined) {
        log(`[${name}] skipped: ${why}`);
        skipped[name] = why;
        continue;
      }
      if (name === 'sqlite' || name === 'lmdb' || name === 'pglite')
        mkdirSync(join(dataDir, name), { recursive: true });
      const t0 = performance.now();
      backends[name] = await runInChild(name, urls[name], corpusDir);
      log(`[${name}] done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      await cleanupServer(name, run);
    }
    const result = {
      bench: 'memory',
      machine: `${cpus().length} vCPU ${cpus()[0]?.model.trim() ?? ''}, ${Math.round(totalmem() / 2 ** 30)} GiB`,
      node: process.version,
      dimension: DIMENSION,
      sizes,
      clients: [1, manyClients],
      phase_seconds: phaseSeconds,
      seconds: round((performance.now() - started) / 1000, 1),
      backends,
      ...(Object.keys(skipped).length === 0 ? {} : { skipped }),
      note: 'clients are async loops in one process; multi-process writers (sqlite, lmdb) are tested in test/, not here',
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (env.BENCH_MEMORY_CHILD !== undefined) {
  await runChild(
    env.BENCH_MEMORY_CHILD as BackendName,
    env.BENCH_MEMORY_URL ?? 'memory://',
    env.BENCH_MEMORY_DATA ?? '.',
  );
} else {
  await runParent();
}
