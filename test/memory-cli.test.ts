/**
 * `forge memory inspect|export|import` in child processes, against every backend available here:
 * export → import round trips between every ordered pair of backends, malformed input (the line is
 * named, nothing is written), stdin, usage errors, redaction, and a 100k-record export in a small heap.
 * `memory://` is left out of the pairs: it lives in one process, so a CLI run can neither fill nor
 * read another's.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  knownMemorySchemes,
  type MemoryNamespace,
  type MemoryStore,
  openMemoryStore,
} from '../src/memory/index.ts';
import type { MemoryRecord } from '../src/memory/store.ts';
import { type CliResult, forge, root } from './cli-helpers.ts';
import { collect, normalizeDump } from './memory-conformance.ts';
import { requireServer } from './servers.ts';

const runId = `${process.pid}x${randomBytes(4).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'forge-memory-cli-'));

interface Backend {
  name: string;
  url: string;
  /** Removes what this run wrote on a shared server. */
  cleanup?: () => Promise<void>;
}

async function probe(url: string): Promise<void> {
  const store = await openMemoryStore(url);
  try {
    await store.ping();
  } finally {
    await store.close();
  }
}

async function availableBackends(): Promise<Backend[]> {
  const known = new Set(knownMemorySchemes());
  const backends: Backend[] = [{ name: 'sqlite', url: `sqlite://${join(dir, 'sqlite', 'memory.db')}` }];
  const missing = (scheme: string): boolean => {
    if (known.has(scheme)) return false;
    console.warn(`skipping ${scheme}:// in the memory CLI tests: no backend registers the scheme yet`);
    return true;
  };
  if (!missing('pglite')) backends.push({ name: 'pglite', url: `pglite://${join(dir, 'pglite')}` });
  if (!missing('lmdb')) backends.push({ name: 'lmdb', url: `lmdb://${join(dir, 'lmdb')}` });
  if (!missing('redis')) {
    const prefix = `forge-cli-test:${runId}:`;
    const url = `redis://127.0.0.1:6379/0?keyPrefix=${encodeURIComponent(prefix)}`;
    if (await requireServer('redis', () => probe(url))) {
      backends.push({
        name: 'redis',
        url,
        cleanup: async () => {
          const { Redis } = await import('ioredis');
          const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
          await redis.connect();
          try {
            let cursor = '0';
            do {
              const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
              cursor = next;
              if (keys.length > 0) await redis.del(...keys);
            } while (cursor !== '0');
          } finally {
            redis.disconnect();
          }
        },
      });
    }
  }
  if (!missing('postgres')) {
    const schema = `forge_cli_test_${runId}`;
    const url = `postgres://postgres@127.0.0.1:5432/test?schema=${schema}`;
    if (await requireServer('postgres', () => probe(url))) {
      backends.push({
        name: 'postgres',
        url,
        cleanup: async () => {
          const pg = await import('pg');
          const client = new pg.default.Client({
            connectionString: 'postgres://postgres@127.0.0.1:5432/test',
          });
          await client.connect();
          try {
            await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          } finally {
            await client.end();
          }
        },
      });
    }
  }
  return backends;
}

const backends = await availableBackends();
const sqlite = backends[0] as Backend;

afterAll(async () => {
  for (const backend of backends) await backend.cleanup?.();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** A vector on a 1/1024 grid: exact in float32, so every backend gives back what it was given. */
const vector = (seed: number, dimension = 8): number[] =>
  Array.from({ length: dimension }, (_, i) => (((seed * 31 + i * 17) % 2047) - 1023) / 1024 || 1 / 1024);

const tenant = `cli-${runId}`;
const expiresAt = Date.now() + 3_600_000;

/** What every round trip must give back: messages with their seq/at, keys with and without TTL, documents. */
const RECORDS: MemoryRecord[] = [
  {
    kind: 'message',
    seq: 1,
    role: 'user',
    content: 'Where is my order 12345? ünïcödé 東京 🚀',
    at: 1_700_000_000_000,
    meta: { channel: 'web' },
  },
  {
    kind: 'message',
    seq: 2,
    role: 'assistant',
    content: 'It shipped yesterday.\nTracking: Z9',
    at: 1_700_000_001_000,
  },
  {
    kind: 'message',
    seq: 3,
    role: 'tool',
    content: '{"status":"shipped"}',
    at: 1_700_000_002_500,
    meta: { tool: 'orders' },
  },
  {
    kind: 'kv',
    key: 'profile',
    value: { name: 'Ada', tags: ['vip'], nested: { n: 1.5, ok: true, none: null } },
  },
  { kind: 'kv', key: 'session', value: 'abc', expiresAt },
  {
    kind: 'document',
    id: 'kb-refunds',
    text: 'Refunds are issued within 5 business days.',
    meta: { topic: 'refunds', n: 1 },
    embedding: vector(1),
  },
  { kind: 'document', id: 'kb-shipping', text: 'Orders ship within 24 hours.', embedding: vector(2) },
  { kind: 'document', id: 'kb-plain', text: 'A document without an embedding.', meta: { topic: 'misc' } },
];

const header = (council = 'Support'): string =>
  JSON.stringify({
    kind: 'header',
    version: 1,
    namespace: { tenant, council },
    exportedAt: Date.now(),
    source: 'test',
  });

const jsonl = (lines: readonly unknown[]): string =>
  `${lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n')}\n`;

const fixture = join(dir, 'fixture.jsonl');
writeFileSync(fixture, jsonl([header(), ...RECORDS]));

const nsFlags = (ns: MemoryNamespace): string[] => [
  '--council',
  ns.council,
  ...(ns.tenant === undefined ? [] : ['--tenant', ns.tenant]),
  ...(ns.agent === undefined ? [] : ['--agent', ns.agent]),
];

async function withStore<T>(url: string, use: (store: MemoryStore) => Promise<T>): Promise<T> {
  const store = await openMemoryStore(url);
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

const dumpOf = (url: string, ns: MemoryNamespace): Promise<MemoryRecord[]> =>
  withStore(url, async (store) => normalizeDump(await collect(store.dump(ns))));

/**
 * Checks a dump against {@link RECORDS}: exact, except the TTL key's `expiresAt`, which a backend
 * may keep as a remaining time (Redis PTTL) and give back a few milliseconds off.
 */
function expectSameRecords(actual: MemoryRecord[]): void {
  const session = actual.find((r) => r.kind === 'kv' && r.key === 'session');
  expect(session, 'the key with a TTL is there').toBeDefined();
  expect(session?.kind === 'kv' ? session.expiresAt : undefined).toBeGreaterThanOrEqual(expiresAt - 1000);
  expect(session?.kind === 'kv' ? session.expiresAt : undefined).toBeLessThanOrEqual(expiresAt + 1000);
  const withoutTtl = (records: MemoryRecord[]) =>
    records.map((r) => (r.kind === 'kv' && r.key === 'session' ? { ...r, expiresAt: 0 } : r));
  expect(withoutTtl(actual)).toStrictEqual(withoutTtl(normalizeDump(RECORDS)));
}

/** Runs `forge ARGS` with `input` on stdin. */
function forgeWithStdin(args: string[], input: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=forge-source', join(root, 'src/cli/main.ts'), ...args],
      { cwd: root, env: { PATH: process.env.PATH ?? '' } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input);
  });
}

const ok = (result: CliResult): CliResult => {
  expect(result.stderr.includes('forge: '), result.stderr).toBe(false);
  expect(result.code, result.stderr).toBe(0);
  return result;
};

describe(`forge memory round trips (${backends.map((b) => b.name).join(', ')})`, () => {
  const source = { tenant, council: 'Support', agent: 'Triage' };
  const exported = new Map<string, string>();

  // Every backend first takes the fixture and gives it back, then exports it for the pairs below.
  describe.each(backends)('$name', (backend) => {
    it('imports the fixture with --mode replace and gives every record back, seq and at kept', async () => {
      const result = ok(
        await forge([
          'memory',
          'import',
          '--url',
          backend.url,
          ...nsFlags(source),
          '--in',
          fixture,
          '--mode',
          'replace',
        ]),
      );
      expect(result.stdout).toContain(`imported ${RECORDS.length} records`);
      expect(result.stdout).toContain('agent=Triage');
      expectSameRecords(await dumpOf(backend.url, source));
    }, 60_000);

    it('inspects the namespace as text and as JSON', async () => {
      const text = ok(
        await forge(['memory', 'inspect', '--url', backend.url, ...nsFlags(source), '--last', '2']),
      );
      expect(text.stdout).toMatch(/messages\s+3\n\s+keys\s+2\n\s+documents\s+3 \(8-dimensional embeddings\)/);
      expect(text.stdout).toContain('last 2 messages:');
      expect(text.stdout).toContain('#2      assistant');
      expect(text.stdout).toContain('It shipped yesterday. ⏎ Tracking: Z9');
      expect(text.stdout).not.toContain('#1 ');
      const json = ok(await forge(['memory', 'inspect', '--url', backend.url, ...nsFlags(source), '--json']));
      const parsed = JSON.parse(json.stdout) as Record<string, unknown>;
      expect(parsed).toMatchObject({
        namespace: { tenant, council: 'Support', agent: 'Triage' },
        stats: { messages: 3, keys: 2, documents: 3, dimension: 8 },
      });
      expect((parsed.messages as unknown[]).length).toBe(3);
    }, 60_000);

    it('exports a header line and one record per line', async () => {
      const out = join(dir, 'exports', `${backend.name}.jsonl`);
      const result = ok(
        await forge(['memory', 'export', '--url', backend.url, ...nsFlags(source), '--out', out]),
      );
      expect(result.stderr).toContain(`exported ${RECORDS.length} records (3 messages, 2 keys, 3 documents)`);
      const lines = readFileSync(out, 'utf8')
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines[0]).toMatchObject({
        kind: 'header',
        version: 1,
        namespace: { tenant, council: 'Support', agent: 'Triage' },
      });
      expect(typeof lines[0]?.exportedAt).toBe('number');
      expectSameRecords(normalizeDump(lines.slice(1) as MemoryRecord[]));
      exported.set(backend.name, out);
    }, 60_000);
  });

  const pairs = backends.flatMap((from) => backends.filter((to) => to !== from).map((to) => ({ from, to })));
  it.each(pairs)(
    '$from.name → $to.name: import of the export is the same namespace',
    async ({ from, to }) => {
      const file = exported.get(from.name);
      expect(file, `the export of ${from.name} ran`).toBeDefined();
      // Into another namespace of the target, so each pair proves its own copy.
      const target = { tenant, council: 'Support', agent: `from-${from.name}` };
      ok(
        await forge([
          'memory',
          'import',
          '--url',
          to.url,
          ...nsFlags(target),
          '--in',
          file as string,
          '--mode',
          'replace',
        ]),
      );
      expectSameRecords(await dumpOf(to.url, target));
    },
    60_000,
  );
});

describe('forge memory import: bad input', () => {
  const ns = { tenant, council: 'Bad' };
  const good = [header('Bad'), ...RECORDS];
  const url = sqlite.url;
  let files = 0;
  const file = (lines: readonly unknown[]): string => {
    const path = join(dir, `bad-${++files}.jsonl`);
    writeFileSync(path, jsonl(lines));
    return path;
  };
  const seed = async () => {
    // Something already there, so "nothing written" also means "nothing emptied" in replace mode.
    const seeded = file([
      { kind: 'kv', key: 'keep', value: 1 },
      { kind: 'document', id: 'd', text: 'x', embedding: [1, 0, 0] },
    ]);
    ok(await forge(['memory', 'import', '--url', url, ...nsFlags(ns), '--in', seeded, '--mode', 'replace']));
    return dumpOf(url, ns);
  };

  const cases: { name: string; lines: unknown[]; line: number; problem: RegExp; mode: string }[] = [
    {
      name: 'invalid JSON',
      lines: [...good.slice(0, 2), '{"kind":"message",', ...good.slice(2)],
      line: 3,
      problem: /not valid JSON/,
      mode: 'replace',
    },
    {
      name: 'a line that is not an object',
      lines: [...good.slice(0, 4), '[1,2]'],
      line: 5,
      problem: /not a JSON object/,
      mode: 'replace',
    },
    {
      name: 'a string in an embedding',
      lines: [...good, { kind: 'document', id: 'bad', text: 't', embedding: [1, 'x', 0, 0, 0, 0, 0, 0] }],
      line: 10,
      problem: /embedding of memory document "bad".*index 1/,
      mode: 'replace',
    },
    {
      name: 'an embedding of another dimension than an earlier line',
      lines: [...good, { kind: 'document', id: 'short', text: 't', embedding: [1, 2, 3] }],
      line: 10,
      problem: /3 dimensions.*8-dimensional/,
      mode: 'replace',
    },
    {
      name: "an embedding of another dimension than the namespace's (append)",
      lines: [
        header('Bad'),
        { kind: 'kv', key: 'k', value: 1 },
        { kind: 'document', id: 'long', text: 't', embedding: vector(3) },
      ],
      line: 3,
      problem: /8 dimensions.*3-dimensional/,
      mode: 'append',
    },
    {
      name: 'an unknown kind',
      lines: [...good.slice(0, 6), { kind: 'note', text: 'x' }],
      line: 7,
      problem: /kind "note"/,
      mode: 'append',
    },
    {
      name: 'a message without a role',
      lines: [header('Bad'), { kind: 'message', seq: 1, content: 'x', at: 1 }],
      line: 2,
      problem: /role/,
      mode: 'append',
    },
    {
      name: 'a seq twice in replace mode',
      lines: [header('Bad'), ...RECORDS.slice(0, 2), { ...RECORDS[0], content: 'again' }],
      line: 4,
      problem: /seq 1 appears twice/,
      mode: 'replace',
    },
    {
      name: 'a header of another version',
      lines: [{ kind: 'header', version: 2 }, ...RECORDS],
      line: 1,
      problem: /version 2/,
      mode: 'append',
    },
    {
      name: 'a header after records',
      lines: [...good.slice(0, 3), header('Bad')],
      line: 4,
      problem: /header.*first line/,
      mode: 'append',
    },
  ];

  it.each(cases)(
    '$name: names line $line, exit 1, nothing written',
    async ({ lines, line, problem, mode }) => {
      const original = await seed();
      const path = file(lines);
      const result = await forge([
        'memory',
        'import',
        '--url',
        url,
        ...nsFlags(ns),
        '--in',
        path,
        '--mode',
        mode,
      ]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toContain(`forge: memory_error: forge memory import: ${path} line ${line}: `);
      expect(result.stderr).toMatch(problem);
      expect(result.stderr).toContain(`hint: fix or remove line ${line}; nothing was written`);
      expect(result.stdout).toBe('');
      expect(await dumpOf(url, ns)).toStrictEqual(original);
    },
    60_000,
  );

  it('refuses empty input (no header, no records) instead of emptying the namespace', async () => {
    const original = await seed();
    for (const mode of ['append', 'replace']) {
      const result = await forgeWithStdin(
        ['memory', 'import', '--url', url, ...nsFlags(ns), '--mode', mode],
        '\n',
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('forge memory import: stdin is empty; nothing was written');
    }
    expect(await dumpOf(url, ns)).toStrictEqual(original);
    // A header alone is an export of an empty namespace: replace empties the target, as asked.
    const empty = file([header('Bad')]);
    expect(
      ok(await forge(['memory', 'import', '--url', url, ...nsFlags(ns), '--in', empty, '--mode', 'replace']))
        .stdout,
    ).toContain('imported 0 records');
    expect(await dumpOf(url, ns)).toStrictEqual([]);
  }, 60_000);

  it('skips blank lines but still counts them in line numbers', async () => {
    await seed();
    const path = file([header('Bad'), '', RECORDS[3], '   ', '{oops']);
    const result = await forge(['memory', 'import', '--url', url, ...nsFlags(ns), '--in', path]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('line 5: is not valid JSON');
    const fine = file([header('Bad'), '', RECORDS[3], '   ']);
    expect(
      ok(await forge(['memory', 'import', '--url', url, ...nsFlags(ns), '--in', fine])).stdout,
    ).toContain('imported 1 record into');
  }, 60_000);
});

describe('forge memory import from stdin', () => {
  it.each(backends)(
    '$name: reads JSON lines piped in, append mode gives new seqs',
    async (backend) => {
      const ns = { tenant, council: 'Stdin', agent: backend.name };
      const input = readFileSync(fixture, 'utf8');
      const first = await forgeWithStdin(
        ['memory', 'import', '--url', backend.url, ...nsFlags(ns), '--mode', 'replace'],
        input,
      );
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toContain(`imported ${RECORDS.length} records`);
      expectSameRecords(await dumpOf(backend.url, ns));
      // Append: the messages again after the ones there, keys and documents upserted.
      const second = await forgeWithStdin(['memory', 'import', '--url', backend.url, ...nsFlags(ns)], input);
      expect(second.code, second.stderr).toBe(0);
      const stats = await withStore(backend.url, (store) => store.stats(ns));
      expect(stats).toStrictEqual({ messages: 6, keys: 2, documents: 3, dimension: 8 });
      const seqs = await withStore(backend.url, (store) => store.read(ns, { limit: 10 }));
      expect(seqs.map((m) => m.seq)).toStrictEqual([1, 2, 3, 4, 5, 6]);
      expect(seqs[3]?.content).toBe(seqs[0]?.content);
      // A bad line on stdin is named as such, and nothing is written.
      const bad = await forgeWithStdin(
        ['memory', 'import', '--url', backend.url, ...nsFlags(ns)],
        `${input}nope\n`,
      );
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain(`stdin line ${RECORDS.length + 2}: is not valid JSON`);
      expect(await withStore(backend.url, (store) => store.stats(ns))).toStrictEqual(stats);
    },
    60_000,
  );
});

describe('forge memory: usage, exit codes, redaction', () => {
  const url = sqlite.url;

  it('prints help for the verb and each subcommand, and lists the verb in forge --help', async () => {
    for (const args of [
      ['memory', '--help'],
      ['memory', 'inspect', '--help'],
      ['memory', 'export', '--help'],
      ['memory', 'import', '--help'],
    ]) {
      const result = ok(await forge(args));
      expect(result.stdout).toContain('forge memory inspect [--json] [--last N]');
      expect(result.stdout).toContain('forge memory export [--out FILE]');
      expect(result.stdout).toContain('forge memory import [--in FILE] [--mode append|replace]');
    }
    expect(ok(await forge(['--help'])).stdout).toMatch(/\n {2}memory {11}inspect, export or import/);
  }, 60_000);

  it.each([
    { args: ['memory'], message: 'forge memory: missing subcommand' },
    { args: ['memory', 'show'], message: 'forge memory: unknown subcommand "show"' },
    { args: ['memory', 'inspect', '--council', 'C'], message: 'forge memory inspect: missing --url' },
    {
      args: ['memory', 'export', '--url', 'sqlite://:memory:'],
      message: 'forge memory export: missing --council',
    },
    {
      args: ['memory', 'inspect', '--url', 'sqlite://:memory:', '--council', 'C', '--colour'],
      message: "Unknown option '--colour'",
    },
    {
      args: ['memory', 'inspect', '--url', 'sqlite://:memory:', '--council', 'C', '--last', 'x'],
      message: '--last "x" is not a whole number',
    },
    {
      args: ['memory', 'inspect', '--url', 'sqlite://:memory:', '--council', 'C', 'extra'],
      message: 'unexpected argument "extra"',
    },
    {
      args: [
        'memory',
        'import',
        '--url',
        'sqlite://:memory:',
        '--council',
        'C',
        '--mode',
        'merge',
        '--in',
        fixture,
      ],
      message: '--mode "merge" is not append or replace',
    },
    {
      args: [
        'memory',
        'import',
        '--url',
        'sqlite://:memory:',
        '--council',
        'C',
        '--in',
        '/nonexistent/x.jsonl',
      ],
      message: '--in /nonexistent/x.jsonl: the file cannot be read (ENOENT)',
    },
    {
      args: ['memory', 'inspect', '--url', 'sqlite://:memory:', '--council', ''],
      message: '--council must not be empty',
    },
  ])(
    'usage error, exit 2: $message',
    async ({ args, message }) => {
      const result = await forge(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('forge: cli_usage: ');
      expect(result.stderr).toContain(message);
      expect(result.stdout).toBe('');
    },
    60_000,
  );

  it('takes the URL from $FORGE_MEMORY_URL when --url is absent', async () => {
    const result = ok(
      await forge(['memory', 'inspect', '--council', 'Nobody', '--json'], { env: { FORGE_MEMORY_URL: url } }),
    );
    expect(JSON.parse(result.stdout)).toMatchObject({
      stats: { messages: 0, keys: 0, documents: 0 },
      messages: [],
    });
  }, 60_000);

  it('an unknown scheme is exit 3 and lists the known ones', async () => {
    const result = await forge(['memory', 'inspect', '--url', 'mongo://:pw@h/db', '--council', 'C']);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('unknown_memory_scheme');
    expect(result.stderr).toContain('sqlite');
    expect(result.stderr).not.toContain(':pw@');
  }, 60_000);

  const servers = backends.filter((b) => b.name === 'redis' || b.name === 'postgres');
  it.each(servers)(
    '$name down: exit 1, host:port named, never the password',
    async (backend) => {
      const down =
        backend.name === 'redis'
          ? 'redis://:hunter2secret@127.0.0.1:1/0'
          : 'postgres://postgres:hunter2secret@127.0.0.1:1/test';
      for (const sub of ['inspect', 'export']) {
        const result = await forge(['memory', sub, '--url', down, '--council', 'C']);
        expect(result.code, result.stderr).toBe(1);
        expect(result.stderr).toContain('memory_error');
        expect(result.stderr).toContain('127.0.0.1:1');
        expect(result.stderr + result.stdout).not.toContain('hunter2secret');
      }
    },
    60_000,
  );

  it('export to stdout is the same as --out, and a failed export leaves no file', async () => {
    const ns = { tenant, council: 'Stdout' };
    ok(await forge(['memory', 'import', '--url', url, ...nsFlags(ns), '--in', fixture, '--mode', 'replace']));
    const viaStdout = ok(await forge(['memory', 'export', '--url', url, ...nsFlags(ns)]));
    const lines = viaStdout.stdout.trimEnd().split('\n');
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ kind: 'header', version: 1, source: url });
    expectSameRecords(normalizeDump(lines.slice(1).map((line) => JSON.parse(line) as MemoryRecord)));
    const out = join(dir, 'never.jsonl');
    const failed = await forge(['memory', 'export', '--url', 'nope://x', '--council', 'C', '--out', out]);
    expect(failed.code).toBe(3);
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});

describe('forge memory export of 100k records', () => {
  it('streams: a 64 MiB heap exports ~100 MB of records', async () => {
    const url = `sqlite://${join(dir, 'big', 'memory.db')}`;
    const ns = { council: 'Big' };
    const count = 100_000;
    const filler = 'x'.repeat(1000);
    await withStore(url, async (store) => {
      function* records(): Generator<MemoryRecord> {
        for (let seq = 1; seq <= count; seq++) {
          yield {
            kind: 'message',
            seq,
            role: 'user',
            content: `${seq} ${filler}`,
            at: 1_700_000_000_000 + seq,
          };
        }
      }
      expect(await store.load(ns, records(), { mode: 'replace' })).toBe(count);
    });
    const out = join(dir, 'big.jsonl');
    // Holding the namespace in memory would need well over 64 MiB of heap (100k strings of 1 KB plus
    // their records and JSON); streaming needs one page and one write batch at a time.
    const result = ok(
      await forge(['memory', 'export', '--url', url, ...nsFlags(ns), '--out', out], {
        env: { NODE_OPTIONS: '--max-old-space-size=64' },
      }),
    );
    expect(result.stderr).toContain(`exported ${count} records`);
    expect(statSync(out).size).toBeGreaterThan(count * 1000);
    const text = readFileSync(out, 'utf8');
    expect(text.split('\n').length).toBe(count + 2);
    expect(JSON.parse(text.slice(text.lastIndexOf('\n', text.length - 2) + 1))).toMatchObject({ seq: count });
  }, 180_000);
});
