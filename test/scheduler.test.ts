// The scheduler through the public API against a real FakeProviderServer (issue 4, item 5): a 429
// storm is waited out as the provider asks and loses no call, throughput recovers, priorities with
// aging, per-council caps, a full queue and the tenant quota hook.
import {
  createScheduler,
  Harness,
  HarnessError,
  type HarnessScheduler,
  type ModelRateLimits,
  type RunEvent,
  type RunResult,
  type SchedulerOptions,
} from 'forge-harness';
import { FakeProviderServer } from 'forge-harness/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

let fake: FakeProviderServer;
beforeAll(async () => {
  fake = await FakeProviderServer.start({ maxRecordedRequests: 100_000 });
});
afterAll(() => fake.close());
beforeEach(() => fake.reset());

function harness(scheduler: HarnessScheduler, rateLimits?: ModelRateLimits, councils: string[] = ['C']) {
  return new Harness({
    models: [
      {
        id: 'm',
        type: 'openai',
        api: 'chat',
        apiKey: 'sk-sched-1234',
        endpoint: fake.baseUrl('openai'),
        ...(rateLimits === undefined ? {} : { rateLimits }),
      },
      { id: 'backup', type: 'anthropic', apiKey: 'sk-ant-sched-1234', endpoint: fake.baseUrl('anthropic') },
    ],
    councils: councils.map((name) => ({ name, agents: [{ name: 'A', model: 'm' }] })),
    memory: 'memory://',
    journal: false,
    scheduler,
  });
}

/** Resolves once `condition()` holds; fails the test after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The user text of each request the fake server received, in arrival order. */
const prompts = () =>
  fake.requests.map((r) => {
    const messages = (r.body as { messages?: Array<{ role: string; content: unknown }> }).messages ?? [];
    const user = messages.filter((m) => m.role === 'user').at(-1)?.content;
    return typeof user === 'string' ? user : JSON.stringify(user);
  });

describe('scheduler: a 429 storm', () => {
  it('waits as Retry-After says, loses no call, and throughput comes back', async () => {
    const scheduler = createScheduler();
    const h = harness(scheduler, { maxConcurrency: 8 });
    fake.injectFault({ latencyMs: 200, times: 100_000 });
    const completed: number[] = [];
    let stop = false;
    // The storm starts with every worker's next call, so all 8 are on the wire together.
    let gate: Promise<void> | undefined;
    let parked = 0;
    const worker = async (w: number) => {
      for (let i = 0; ; i++) {
        if (gate) {
          parked += 1;
          await gate;
          parked -= 1;
        }
        if (stop) return;
        const result = await h.callLlm({ model: 'm', prompt: `worker ${w} call ${i}`, fallback: ['backup'] });
        // A fallback would be a lost request for model m.
        expect(result.model).toBe('m');
        completed.push(Date.now());
      }
    };
    const workers = Array.from({ length: 8 }, (_, w) => worker(w));
    const rate = (from: number, to: number) =>
      completed.filter((t) => t >= from && t < to).length / (to - from);

    await until(() => completed.length >= 16, 'warm-up calls');
    const preFrom = Date.now();
    await until(() => Date.now() >= preFrom + 1500, 'the pre-storm window');
    const pre = rate(preFrom, preFrom + 1500);

    let open = () => {};
    gate = new Promise((resolve) => {
      open = resolve;
    });
    await until(() => parked === 8, 'every worker between two calls');
    // The storm: of the 8 calls now going out together, the first 3 are refused with Retry-After: 1.
    fake.reset();
    fake.injectFault({ status: 429, retryAfterSeconds: 1, times: 3 });
    fake.injectFault({ latencyMs: 200, times: 100_000 });
    gate = undefined;
    open();
    const refused = () => fake.requests.filter((r) => r.fault === 'status');
    await until(() => refused().length === 3, 'all 429s served');
    const last429 = Math.max(...refused().map((r) => r.receivedAt));
    // Every caller is back after the reset; give AIMD a moment to grow concurrency again.
    const postFrom = last429 + 1000 + 400;
    await until(() => Date.now() >= postFrom + 1500, 'the post-storm window');
    const post = rate(postFrom, postFrom + 1500);
    stop = true;
    await Promise.all(workers);

    // After the 8 calls that went out together, no request reached the server before Retry-After
    // elapsed: the refused callers waited, and the limiter held the 5 answered callers' next calls
    // until the reset too instead of letting them hammer the model (timers may fire 5 ms early).
    const after = fake.requests.filter((r) => r.seq > 8);
    expect(after.length).toBeGreaterThan(8);
    const early = after.filter((r) => r.receivedAt < last429 + 995);
    expect(early.map((r) => `request ${r.seq} at +${r.receivedAt - last429} ms`)).toEqual([]);
    // Every refused call was retried once on m and answered; none fell back.
    const refusedPrompts = refused().map((r) => prompts()[r.seq - 1]);
    for (const prompt of refusedPrompts) expect(prompts().filter((p) => p === prompt)).toHaveLength(2);
    expect(fake.counters().byFamily.anthropic).toBe(0);
    expect(scheduler.stats().models.m).toMatchObject({ rateLimited: 3, concurrencyLimit: 8, inFlight: 0 });
    // Throughput after the storm is back to what it was before (same test, same machine).
    // Calls wait 200 ms at the server, so the rate is set by concurrency, not by this machine's CPU.
    expect(post).toBeGreaterThanOrEqual(pre * 0.75);
  });

  it('rate-limit waits do not count against maxRetries; past maxRateLimitWaitMs the call falls back', async () => {
    const h = new Harness({
      models: [
        { id: 'm', type: 'openai', api: 'chat', apiKey: 'sk-sched-1234', endpoint: fake.baseUrl('openai') },
        { id: 'backup', type: 'anthropic', apiKey: 'sk-ant-sched-1234', endpoint: fake.baseUrl('anthropic') },
      ],
      memory: 'memory://',
      journal: false,
      scheduler: createScheduler(),
      retry: { maxRetries: 1, maxRateLimitWaitMs: 2500 },
    });
    // Four 429s in a row asking for 0 s: four waits, more than maxRetries, and still model m.
    fake.injectFault({ status: 429, retryAfterSeconds: 0, times: 4, match: { provider: 'openai' } });
    const first = await h.callLlm({ model: 'm', prompt: 'hi', fallback: ['backup'] });
    expect(first.model).toBe('m');
    expect(fake.counters().byFamily).toMatchObject({ openai: 5, anthropic: 0 });

    // 1 s + 1 s fit in 2.5 s; the third wait would not: fall back instead.
    fake.reset();
    fake.injectFault({ status: 429, retryAfterSeconds: 1, times: 5, match: { provider: 'openai' } });
    const started = Date.now();
    const second = await h.callLlm({ model: 'm', prompt: 'hi', fallback: ['backup'] });
    expect(second.model).toBe('backup');
    expect(fake.counters().byFamily).toMatchObject({ openai: 3, anthropic: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1990);
  });
});

describe('scheduler: run admission', () => {
  it('starts a queued high run before earlier normal ones; FIFO within a priority', async () => {
    const scheduler = createScheduler({ maxConcurrentRuns: 1 });
    const h = harness(scheduler);
    fake.injectFault({ latencyMs: 150, times: 1 });
    const runs = [h.run('C', 'first')];
    await until(() => scheduler.stats().running === 1, 'the first run to start');
    runs.push(h.run('C', 'normal 1'));
    await until(() => scheduler.stats().queued.normal === 1, 'normal 1 queued');
    runs.push(h.run('C', 'normal 2'));
    await until(() => scheduler.stats().queued.normal === 2, 'normal 2 queued');
    runs.push(h.run('C', 'high 1', { priority: 'high' }));
    await until(() => scheduler.stats().queued.high === 1, 'high 1 queued');
    const results = await Promise.all(runs);
    expect(results.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(prompts()).toEqual(['first', 'high 1', 'normal 1', 'normal 2']);
    expect(scheduler.stats().waitMs.max).toBeGreaterThanOrEqual(100);
    await h.stop();
  });

  it('starts a low run under a constant stream of high ones (aging)', async () => {
    const scheduler = createScheduler({ maxConcurrentRuns: 1, agingMs: 100 });
    const h = harness(scheduler);
    fake.injectFault({ latencyMs: 25, times: 10_000 });
    const all: Array<PromiseLike<RunResult>> = [];
    let highs = 0;
    let lowStarted = false;
    let highsWaitingWhenLowStarted = -1;
    // Every high run that ends brings two more: without aging the low run would wait forever.
    const high = () => {
      const run = h.run('C', `high ${highs++}`, { priority: 'high' });
      all.push(run);
      run.result.then(() => {
        if (!lowStarted && highs < 200) {
          high();
          high();
        }
      });
    };
    high();
    await until(() => scheduler.stats().running === 1, 'the first high run');
    high();
    all.push(
      h.run('C', 'low', {
        priority: 'low',
        onEvent: (event: RunEvent) => {
          if (event.type === 'run-queued') {
            lowStarted = true;
            highsWaitingWhenLowStarted = scheduler.stats().queued.high;
          }
        },
      }),
    );
    await until(() => lowStarted, 'the low run to start', 15_000);
    const results = await Promise.all(all);
    expect(results.every((r) => r.status === 'succeeded')).toBe(true);
    // It started while high runs were still waiting: it overtook them, they did not just run out.
    expect(highsWaitingWhenLowStarted).toBeGreaterThan(0);
    // Promoted to high after 2 × agingMs (≈ 8 runs of 25 ms), then ahead of every later high.
    expect(prompts().indexOf('low')).toBeLessThan(30);
    await h.stop();
  });

  it('keeps a council within its cap while other councils use the free slots', async () => {
    const scheduler = createScheduler({
      maxConcurrentRuns: 10,
      councils: { Capped: { maxConcurrentRuns: 1 } },
    });
    const h = harness(scheduler, undefined, ['Capped', 'Free']);
    fake.injectFault({ latencyMs: 100, times: 10 });
    let maxCapped = 0;
    let maxFree = 0;
    const onEvent = () => {
      const running = scheduler.stats().runningByCouncil;
      maxCapped = Math.max(maxCapped, running.Capped ?? 0);
      maxFree = Math.max(maxFree, running.Free ?? 0);
    };
    const runs = [
      ...['c1', 'c2', 'c3'].map((input) => h.run('Capped', input, { onEvent })),
      ...['f1', 'f2'].map((input) => h.run('Free', input, { onEvent })),
    ];
    const results = await Promise.all(runs);
    expect(results.map((r) => r.status)).toEqual(Array(5).fill('succeeded'));
    expect(maxCapped).toBe(1);
    expect(maxFree).toBe(2);
    expect(scheduler.stats()).toMatchObject({ running: 0, runningByCouncil: {} });
    await h.stop();
  });

  it('refuses a run when the queue is full: overloaded with retryAfterMs in the RunResult', async () => {
    const scheduler = createScheduler({ maxConcurrentRuns: 1, maxQueuedRuns: 1 });
    const h = harness(scheduler);
    fake.injectFault({ latencyMs: 200, times: 1 });
    const first = h.run('C', 'first');
    await until(() => scheduler.stats().running === 1, 'the first run to start');
    const second = h.run('C', 'second');
    await until(() => scheduler.stats().queued.normal === 1, 'the second run queued');
    const third = await h.run('C', 'third');
    expect(third.status).toBe('failed');
    expect(HarnessError.isInstance(third.error) && third.error.code).toBe('overloaded');
    expect(third.error?.isRetryable).toBe(true);
    expect(third.error?.details.retryAfterMs).toBeGreaterThan(0);
    expect((await first).status).toBe('succeeded');
    expect((await second).status).toBe('succeeded');
    expect(prompts()).toEqual(['first', 'second']);
    await h.stop();
  });

  it('the quota hook refuses a tenant: quota_exceeded reaches the RunResult, no model is called', async () => {
    const tickets: Array<{ tenant: string; council: string; priority: string }> = [];
    const quota: SchedulerOptions['quota'] = async (ticket) => {
      tickets.push({ tenant: ticket.tenant, council: ticket.council, priority: ticket.priority });
      if (ticket.tenant === 'acme') {
        throw new HarnessError('quota_exceeded', 'tenant acme has used its 100 runs today', {
          hint: 'wait for tomorrow or raise the quota',
          details: { tenant: 'acme', limit: 100 },
        });
      }
    };
    const h = harness(createScheduler({ quota }));
    const refused = await h.run('C', 'hello', { tenant: 'acme' });
    expect(refused.status).toBe('failed');
    expect(refused.error).toMatchObject({ code: 'quota_exceeded', details: { tenant: 'acme', limit: 100 } });
    expect(fake.counters().total).toBe(0);
    const allowed = await h.run('C', 'hello', { tenant: 'globex', priority: 'low' });
    expect(allowed.status).toBe('succeeded');
    expect(tickets).toEqual([
      { tenant: 'acme', council: 'C', priority: 'normal' },
      { tenant: 'globex', council: 'C', priority: 'low' },
    ]);
    await h.stop();
  });

  it('an abort while queued ends the run as aborted and frees its place', async () => {
    const scheduler = createScheduler({ maxConcurrentRuns: 1 });
    const h = harness(scheduler);
    fake.injectFault({ latencyMs: 150, times: 1 });
    const first = h.run('C', 'first');
    await until(() => scheduler.stats().running === 1, 'the first run to start');
    const controller = new AbortController();
    const queued = h.run('C', 'queued', { signal: controller.signal });
    await until(() => scheduler.stats().queued.normal === 1, 'the run queued');
    controller.abort(new Error('user cancelled'));
    expect((await queued).status).toBe('aborted');
    expect(scheduler.stats().queued.normal).toBe(0);
    expect((await first).status).toBe('succeeded');
    expect(prompts()).toEqual(['first']);
    await h.stop();
  });
});

describe('scheduler: from YAML', () => {
  it('takes scheduler:, rate_limits and council priority from the config file', async () => {
    const h = Harness.fromYaml(
      `models:
  - id: m
    type: openai
    api: chat
    api_key: sk-yaml-1234
    endpoint: \${FAKE_OPENAI}
    rate_limits: { rpm: 6000, max_concurrency: 4 }
councils:
  - name: Batch
    priority: low
    agents: [{ name: A, model: m }]
  - name: Urgent
    priority: high
    agents: [{ name: A, model: m }]
scheduler:
  max_concurrent_runs: 1
  councils:
    Batch: { max_concurrent_runs: 1 }
`,
      { env: { FAKE_OPENAI: fake.baseUrl('openai') }, memory: 'memory://', journal: false },
    );
    fake.injectFault({ latencyMs: 150, times: 1 });
    const first = h.run('Batch', 'batch 1');
    await until(() => h.scheduler.stats().running === 1, 'the first run to start');
    const batch = h.run('Batch', 'batch 2');
    await until(() => h.scheduler.stats().queued.low === 1, 'batch 2 queued at low');
    const urgent = h.run('Urgent', 'urgent');
    await until(() => h.scheduler.stats().queued.high === 1, 'urgent queued at high');
    const results = await Promise.all([first, batch, urgent]);
    expect(results.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(prompts()).toEqual(['batch 1', 'urgent', 'batch 2']);
    expect(h.scheduler.stats().models.m).toMatchObject({
      maxConcurrency: 4,
      requests: { capacity: 6000, source: 'configured' },
    });
    await h.stop();
  });
});
