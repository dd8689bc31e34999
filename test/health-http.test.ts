// Issue 5 §7: /livez, /readyz and /health over a Harness, through the public API: readiness follows
// a failing memory and names it, /health carries probes, versions, scheduler stats and
// consistency checks that catch a model that does not resolve and a run journaled as running
// that nothing runs; the app extends with routes (the telemetry /metrics) and serves over a socket.
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import {
  Agent,
  Council,
  createHealthApp,
  createProcessProbe,
  Harness,
  HarnessError,
  type HealthBody,
  HealthMonitor,
  Memory,
  MemoryPressure,
  type MemoryStore,
  openMemoryStore,
  type RunEvent,
} from 'forge-harness';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

const version = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** A real in-memory store whose `ping` fails, as a store whose server went away does, while `down` is set. */
async function switchableStore(): Promise<{ store: MemoryStore; down: boolean }> {
  const base = await openMemoryStore('memory://');
  const state = { down: false, store: base };
  state.store = new Proxy(base, {
    get(target, key, receiver) {
      if (key === 'ping' && state.down) {
        return async () => {
          throw new HarnessError('memory_error', 'memory://switchable: connection refused', {
            isRetryable: true,
          });
        };
      }
      const value = Reflect.get(target, key, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return state;
}

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.stop()));
});
// Tests that expect the overall status `up` must not depend on how busy the machine is: their
// process probe only calls a lag of seconds degraded (the default is 100 ms).
const calm = createProcessProbe({ lagDegradedMs: 5_000, lagDownMs: 10_000 });
afterAll(() => calm.close());

function harness(options: ConstructorParameters<typeof Harness>[0] = {}): Harness {
  const h = new Harness({
    models: [{ id: 'sim', type: 'simulated' }],
    councils: [new Council({ name: 'Desk', agents: [new Agent({ name: 'A', model: 'sim' })] })],
    memory: 'memory://',
    journal: ':memory:',
    ...options,
  });
  harnesses.push(h);
  return h;
}

const json = async <T = Record<string, unknown>>(response: Response | Promise<Response>) =>
  (await (await response).json()) as T;

describe('the health app over a Harness', () => {
  it('/livez answers while the event loop runs', async () => {
    const app = createHealthApp(harness(), { models: false });
    const response = await app.request('/livez');
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({
      status: 'alive',
      eventLoopLagMs: { p99: expect.any(Number) },
    });
  });

  it('/livez is 503 once the event loop keeps stalling beyond the threshold', async () => {
    const processProbe = createProcessProbe({ resolutionMs: 10 });
    try {
      const app = createHealthApp(harness(), { models: false, processProbe, livenessLagMs: 80 });
      for (let i = 0; i < 12; i++) {
        const until = Date.now() + 150;
        while (Date.now() < until) {
          // the event loop is blocked
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const response = await app.request('/livez');
      expect(response.status).toBe(503);
      expect(await json(response)).toMatchObject({ status: 'stalled', thresholdMs: 80 });
    } finally {
      processProbe.close();
    }
  });

  it('/readyz is 200 with healthy dependencies, 503 naming a memory that fails, 200 again when it is back', async () => {
    const memory = await switchableStore();
    const h = harness({
      councils: [
        new Council({
          name: 'Desk',
          memory: new Memory({ store: memory.store }),
          agents: [new Agent({ name: 'A', model: 'sim' })],
        }),
      ],
    });
    await h.start();
    const app = createHealthApp(h, { models: false });

    const ready = await app.request('/readyz');
    expect(ready.status).toBe(200);
    const body = await json<{ ready: boolean; probes: Array<{ name: string; kind: string }> }>(ready);
    expect(body.ready).toBe(true);
    // The harness's memory-pressure probe (kind process) is a readiness dependency too.
    expect(body.probes.map((p) => p.kind).sort()).toEqual(['journal', 'memory', 'process']);

    memory.down = true;
    await h.health.check();
    const notReady = await app.request('/readyz');
    expect(notReady.status).toBe(503);
    expect(await json(notReady)).toEqual({
      ready: false,
      failed: [
        {
          name: 'memory:memory://',
          kind: 'memory',
          status: 'down',
          detail: 'memory://switchable: connection refused (retryable)',
        },
      ],
    });
    // Liveness is about the process, not its dependencies.
    expect((await app.request('/livez')).status).toBe(200);

    memory.down = false;
    await h.health.check();
    expect((await app.request('/readyz')).status).toBe(200);
  });

  it('/readyz checks dependencies nobody has checked yet instead of guessing', async () => {
    const app = createHealthApp(harness(), { models: false });
    // The harness has not started: its monitor never ran; the journal probe is new.
    const response = await app.request('/readyz');
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({
      ready: true,
      probes: [
        { name: 'memory-pressure', status: 'up' },
        { kind: 'journal', status: 'up' },
      ],
    });
  });

  it('/health: probes, versions, scheduler stats and consistency checks', async () => {
    const h = harness();
    await h.start();
    const app = createHealthApp(h, { processProbe: calm });
    const response = await app.request('/health');
    expect(response.status).toBe(200);
    const body = await json<HealthBody>(response);
    expect(body).toMatchObject({
      status: 'up',
      ready: true,
      pending: [],
      versions: { forgeHarness: version, node: process.versions.node },
      process: { pid: process.pid, eventLoopLagMs: { p99: expect.any(Number) } },
      scheduler: { running: 0, queued: { high: 0, normal: 0, low: 0 } },
      scale: { currentWorkers: 1, desiredWorkers: 1, scaleUp: false },
      consistency: { ok: true },
    });
    expect(typeof body.checkedAt).toBe('string');
    const probes = Object.fromEntries(body.probes.map((p) => [p.name, p]));
    expect(Object.keys(probes).sort()).toEqual([
      'journal::memory:',
      'memory-pressure',
      'memory:memory://',
      'model:sim',
      'process',
    ]);
    expect(probes['model:sim']).toMatchObject({
      kind: 'provider',
      status: 'up',
      data: { latencyMs: expect.any(Number) },
    });
    expect(probes.process).toMatchObject({
      kind: 'process',
      critical: false,
      data: { heapLimitBytes: expect.any(Number) },
    });
    expect(body.consistency.checks.map((c) => c.name)).toEqual([
      'models-resolve',
      'journal-runs',
      'scheduler-counters',
      'health-monitor',
    ]);
  });

  it('/health: a council whose model does not resolve fails the consistency check (and its probe), not readiness', async () => {
    const h = harness({
      models: [
        { id: 'sim', type: 'simulated' },
        { id: 'keyless', type: 'openai', apiKey: 'env:FORGE_TEST_NO_SUCH_KEY' },
      ],
      env: {},
    });
    await h.start();
    const app = createHealthApp(h);
    // A hot swap brings in a council on a model whose key is missing.
    h.addCouncil(
      new Council({ name: 'Late', agents: [new Agent({ name: 'B', model: 'sim', fallback: ['keyless'] })] }),
    );
    const body = await json<HealthBody>(app.request('/health'));
    expect(body.status).toBe('degraded');
    const check = body.consistency.checks.find((c) => c.name === 'models-resolve');
    expect(check?.ok).toBe(false);
    expect(check?.detail).toContain('Late.agents[0].fallback[0] "keyless": missing_credential');
    expect(check?.detail).toContain('FORGE_TEST_NO_SUCH_KEY');
    expect(body.probes.find((p) => p.name === 'model:keyless')).toMatchObject({ status: 'down' });
    expect((await app.request('/readyz')).status).toBe(200);
  });

  it('/health: a run journaled as running by this process that nothing runs is reported; runs in flight are not', async () => {
    const h = harness({ models: [{ id: 'sim', type: 'simulated', latencyMs: 300 }] });
    await h.start();
    const app = createHealthApp(h, { models: false });
    const journalRuns = async () =>
      (await json<HealthBody>(app.request('/health'))).consistency.checks.find(
        (c) => c.name === 'journal-runs',
      );

    let queued: () => void = () => {};
    const admitted = new Promise<void>((resolve) => {
      queued = resolve;
    });
    const run = h.run('Desk', 'hello', { onEvent: (e) => e.type === 'run-queued' && queued() });
    await admitted;
    expect(await journalRuns()).toMatchObject({ ok: true, detail: expect.stringContaining('1 run(s)') });
    expect((await run).status).toBe('succeeded');

    // A run the journal says this process runs, that no run of this process is executing.
    h.journal?.createRun({
      runId: 'run_stray',
      council: 'Desk',
      input: 'lost',
      tenant: 'default',
      councilHash: 'x',
      options: {},
    });
    const stray = await journalRuns();
    expect(stray).toMatchObject({ ok: false, detail: expect.stringContaining('run_stray') });
    expect((await json<HealthBody>(app.request('/health'))).status).toBe('degraded');

    h.journal?.finishRun('run_stray', 'aborted', {
      output: '',
      usage: { inputTokens: 0, outputTokens: 0, costUsd: 0, modelCalls: 0 },
    });
    expect(await journalRuns()).toMatchObject({ ok: true });
  });

  it('/health: the monitor not running is an inconsistency', async () => {
    const h = harness();
    const app = createHealthApp(h, { models: false });
    const body = await json<HealthBody>(app.request('/health'));
    expect(body.consistency.checks.find((c) => c.name === 'health-monitor')).toMatchObject({
      ok: false,
      detail: expect.stringContaining('not running'),
    });
    await h.start();
    const after = await json<HealthBody>(app.request('/health'));
    expect(after.consistency.checks.find((c) => c.name === 'health-monitor')?.ok).toBe(true);
  });

  it('takes extra routes and /health sections (as the telemetry /metrics does)', async () => {
    const app = createHealthApp(harness(), {
      models: false,
      routes: (a) => a.get('/metrics', (c) => c.text('forge_up 1\n')),
      diagnostics: {
        breakers: () => ({ sim: 'closed' }),
        broken: () => {
          throw new Error('section failed');
        },
      },
    });
    expect(await (await app.request('/metrics')).text()).toBe('forge_up 1\n');
    const body = await json<HealthBody>(app.request('/health'));
    expect(body.breakers).toEqual({ sim: 'closed' });
    expect(body.broken).toEqual({ error: 'section failed' });
    expect((await app.request('/nope')).status).toBe(404);
  });
});

describe('the health app over other sources', () => {
  it('/health shows each model breaker as its last event left it; an open one degrades the status', async () => {
    let emit: (event: RunEvent) => void = () => {};
    const health = new HealthMonitor();
    const app = createHealthApp(
      {
        health,
        councilNames: () => [],
        subscribe: (listener) => {
          emit = listener;
          return () => {};
        },
      },
      { models: false, processProbe: calm },
    );
    health.start();
    try {
      const breaker = (type: string, model: string, ts: number) =>
        emit({ v: 1, runId: 'run_1', seq: 0, ts, path: [], type, model } as unknown as RunEvent);
      breaker('breaker-open', 'gpt', Date.UTC(2026, 0, 1));
      breaker('breaker-open', 'claude', Date.UTC(2026, 0, 1));
      breaker('breaker-half-open', 'claude', Date.UTC(2026, 0, 2));
      const open = await json<HealthBody>(app.request('/health'));
      expect(open.breakers).toEqual({
        gpt: { state: 'open', since: '2026-01-01T00:00:00.000Z' },
        claude: { state: 'half-open', since: '2026-01-02T00:00:00.000Z' },
      });
      expect(open.status).toBe('degraded');
      breaker('breaker-close', 'gpt', Date.UTC(2026, 0, 3));
      breaker('breaker-close', 'claude', Date.UTC(2026, 0, 3));
      const closed = await json<HealthBody>(app.request('/health'));
      expect(closed.breakers?.gpt).toEqual({ state: 'closed', since: '2026-01-03T00:00:00.000Z' });
      expect(closed.status).toBe('up');
    } finally {
      health.stop();
    }
  });

  it('memory pressure: /readyz 503 while shedding, its state in /health', async () => {
    const heap = { used: 50, limit: 100 };
    const memoryPressure = new MemoryPressure({ heap: () => heap });
    const app = createHealthApp(
      { health: new HealthMonitor(), councilNames: () => [], memoryPressure },
      { models: false },
    );
    expect((await app.request('/readyz')).status).toBe(200);
    heap.used = 90;
    memoryPressure.check();
    const response = await app.request('/readyz');
    expect(response.status).toBe(503);
    expect(await json(response)).toMatchObject({
      failed: [
        { name: 'memory-pressure', status: 'down', detail: 'shedding new work: 90% of the heap limit' },
      ],
    });
    const body = await json<HealthBody>(app.request('/health'));
    expect(body).toMatchObject({ status: 'down', memoryPressure: { shedding: true, retryAfterMs: 5000 } });
    expect((await app.request('/health')).status).toBe(503);
  });

  it('serves over a real socket with @hono/node-server', async () => {
    const h = harness();
    await h.start();
    const app = createHealthApp(h, { models: false, processProbe: calm });
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    try {
      await new Promise<void>((resolve) =>
        server.listening ? resolve() : server.once('listening', resolve),
      );
      const { port } = server.address() as AddressInfo;
      const base = `http://127.0.0.1:${port}`;
      const live = await fetch(`${base}/livez`);
      expect(live.status).toBe(200);
      expect(live.headers.get('content-type')).toContain('application/json');
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const health = (await (await fetch(`${base}/health`)).json()) as HealthBody;
      expect(health).toMatchObject({ status: 'up', versions: { forgeHarness: version } });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('/health and the gateway breakers', () => {
  it('shows every circuit breaker of the registry, and an open one degrades the status', async () => {
    const { Harness: H } = await import('forge-harness');
    const { FakeProviderServer } = await import('forge-harness/testing');
    const fake = await FakeProviderServer.start();
    try {
      fake.injectFault({ status: 500, times: 50, match: { model: 'sick' } });
      const harness = new H({
        journal: false,
        memory: 'memory://',
        retry: { maxRetries: 0 },
        models: [
          {
            id: 'sick',
            type: 'openai',
            api: 'chat',
            apiKey: 'k',
            endpoint: fake.baseUrl('openai'),
            breaker: { consecutiveFailures: 2 },
          },
          { id: 'well', type: 'openai', api: 'chat', apiKey: 'k', endpoint: fake.baseUrl('openai') },
        ],
        councils: [{ name: 'C', agents: [{ name: 'A', model: 'sick', fallback: ['well'] }] }],
      });
      for (let i = 0; i < 3; i++) expect((await harness.run('C', `hi ${i}`)).status).toBe('succeeded');
      const app = createHealthApp(harness, { models: false });
      const body = (await (await app.request('/health')).json()) as {
        status: string;
        circuits?: Array<{ scope: string; key: string; state: string }>;
      };
      const brief = (list: ReadonlyArray<{ scope: string; key: string; state: string }>) =>
        list.map(({ scope, key, state }) => ({ scope, key, state }));
      expect(brief(body.circuits ?? [])).toEqual(brief(harness.breakers()));
      expect(body.circuits).toContainEqual(
        expect.objectContaining({ scope: 'model', key: 'sick', state: 'open' }),
      );
      expect(body.status).toBe('degraded');
      await harness.stop();
    } finally {
      await fake.close();
    }
  });
});
