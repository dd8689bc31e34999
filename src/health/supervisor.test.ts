/**
 * The supervisor against real child processes: a small fake worker (written below) that speaks
 * the worker protocol and misbehaves on cue, so every path (restart, give-up, requeue, adoption
 * of resumed runs, lookups, cancel, stop and SIGKILL) is quick and deterministic. The real
 * worker (`forge worker` on a harness and a journal) is tested in test/supervisor.test.ts.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import {
  createSupervisor,
  RestartBudget,
  type Supervisor,
  type SupervisorEvent,
  type SupervisorOptions,
} from './supervisor.ts';

const dir = mkdtempSync(join(tmpdir(), 'forge-supervisor-'));
const fake = join(dir, 'fake-worker.mjs');

/*
 * argv: <mode> <state file>. The state file survives restarts: lives, and each run's state.
 * Modes: echo, crash-at-start, never-ready, ignore-term, die-before-start, die-mid-run,
 * die-after-finish (the last three misbehave in the first life only). A job's input is how long
 * it takes, ms.
 */
writeFileSync(
  fake,
  `
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
const [mode, state] = process.argv.slice(2);
const s = existsSync(state) ? JSON.parse(readFileSync(state, 'utf8')) : { lives: 0, runs: {} };
s.lives++;
const save = () => writeFileSync(state, JSON.stringify(s));
save();
const out = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
const usage = { inputTokens: 0, outputTokens: 0, costUsd: 0, modelCalls: 0 };
if (mode === 'crash-at-start') {
  process.stderr.write('boom: the config is broken\\n');
  process.exit(3);
}
if (mode === 'never-ready') setInterval(() => {}, 1000);
else {
  process.on('SIGTERM', () => process.stderr.write('got SIGTERM\\n'));
  if (mode === 'ignore-term') setInterval(() => {}, 1000);
  const timers = new Map();
  const finish = (runId, id, status, extra = {}) => {
    clearTimeout(timers.get(runId)?.t);
    timers.delete(runId);
    s.runs[runId] = 'done';
    save();
    out({ type: 'result', runId, ...(id ? { id } : {}), council: 'C', status, output: 'echo ' + runId, usage, durationMs: 1, ...extra });
  };
  const resumed = Object.keys(s.runs).filter((k) => s.runs[k] === 'running');
  for (const runId of resumed) s.runs[runId] = 'resumed';
  save();
  console.log('not a protocol line');
  out({ type: 'ready', pid: process.pid, protocol: 1, resumed });
  for (const runId of resumed) timers.set(runId, { t: setTimeout(() => finish(runId, undefined, 'succeeded', { resumed: true }), 20) });
  createInterface({ input: process.stdin }).on('line', (line) => {
    const m = JSON.parse(line);
    if (m.type === 'run') {
      if (mode === 'die-before-start' && s.lives === 1) process.exit(1);
      const runId = 'run_' + m.id + '_' + s.lives;
      s.runs[runId] = 'running';
      save();
      out({ type: 'started', id: m.id, runId });
      if (mode === 'die-mid-run' && s.lives === 1) process.kill(process.pid, 'SIGKILL');
      if (mode === 'die-after-finish' && s.lives === 1) {
        s.runs[runId] = 'finished';
        save();
        process.exit(1);
      }
      timers.set(runId, { id: m.id, t: setTimeout(() => finish(runId, m.id, 'succeeded'), Number(m.input)) });
    } else if (m.type === 'cancel') {
      const runId = m.runId ?? [...timers].find(([, v]) => v.id === m.id)?.[0];
      if (timers.has(runId)) finish(runId, timers.get(runId).id, 'aborted', { error: { code: 'aborted', message: 'cancelled' } });
    } else if (m.type === 'lookup') {
      if (s.runs[m.runId] === 'finished') out({ type: 'result', runId: m.runId, council: 'C', status: 'succeeded', output: 'from the journal', usage, durationMs: 1, lookup: true });
      else out({ type: 'lookup', runId: m.runId, status: s.runs[m.runId] ? 'running' : 'unknown' });
    }
  });
}
`,
);

let stateSeq = 0;
const live: Supervisor[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((s) => s.stop()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function supervise(mode: string, options: Partial<SupervisorOptions> = {}) {
  const events: SupervisorEvent[] = [];
  const state = join(dir, `state-${++stateSeq}.json`);
  const target = options.command === undefined ? { script: fake, nodeArgs: [], args: [mode, state] } : {};
  const supervisor = createSupervisor({
    ...target,
    output: 'events',
    restart: { backoffMs: 10 },
    ...options,
    onEvent: (e) => events.push(e),
  });
  live.push(supervisor);
  return {
    supervisor,
    events,
    state,
    of: <T extends SupervisorEvent['type']>(type: T) =>
      events.filter((e) => e.type === type) as Array<Extract<SupervisorEvent, { type: T }>>,
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('RestartBudget', () => {
  it('doubles the delay per crash in a row up to the cap, and gives up past the per-minute limit', () => {
    const budget = new RestartBudget({
      backoffMs: 100,
      maxBackoffMs: 500,
      maxRestartsPerMinute: 4,
      stableAfterMs: 10_000,
    });
    const delays = [1000, 2000, 3000, 4000].map((t) => budget.next(t, 50)?.delayMs);
    expect(delays).toEqual([100, 200, 400, 500]);
    expect(budget.next(5000, 50)).toBeUndefined();
    expect(budget.total).toBe(4);
    // A minute after the first restart, one is allowed again.
    expect(budget.next(61_001, 50)).toEqual({ delayMs: 500, restart: 5 });
  });

  it('starts over at backoffMs after a stable run; 0 per minute gives up at once', () => {
    const budget = new RestartBudget({
      backoffMs: 100,
      maxBackoffMs: 10_000,
      maxRestartsPerMinute: 100,
      stableAfterMs: 5000,
    });
    expect(budget.next(0, 10)?.delayMs).toBe(100);
    expect(budget.next(1, 10)?.delayMs).toBe(200);
    expect(budget.next(2, 5000)?.delayMs).toBe(100);
    const none = new RestartBudget({
      backoffMs: 100,
      maxBackoffMs: 100,
      maxRestartsPerMinute: 0,
      stableAfterMs: 0,
    });
    expect(none.next(0, 1_000_000)).toBeUndefined();
  });
});

describe('createSupervisor', () => {
  it('names a bad option exactly', () => {
    const path = (options: SupervisorOptions) => {
      try {
        createSupervisor(options);
      } catch (error) {
        return HarnessError.isInstance(error) ? `${error.code} ${error.location?.path}` : String(error);
      }
      return 'accepted';
    };
    expect(path({})).toBe('config_invalid SupervisorOptions.command');
    expect(path({ script: 'a', command: 'b' })).toBe('config_invalid SupervisorOptions.script');
    expect(path({ script: 'a', workers: 0 })).toBe('config_invalid SupervisorOptions.workers');
    expect(path({ command: 'a', restart: { maxRestartsPerMinute: 1.5 } })).toBe(
      'config_invalid SupervisorOptions.restart.maxRestartsPerMinute',
    );
    expect(path({ command: 'a', readyTimeoutMs: 0 })).toBe('config_invalid SupervisorOptions.readyTimeoutMs');
  });

  it('runs jobs on the least busy worker and stops gracefully, leaving no process behind', async () => {
    const { supervisor, of, events } = supervise('echo', { workers: 3 });
    await supervisor.start();
    expect(of('worker-ready').map((e) => e.worker)).toEqual([1, 2, 3]);
    // Workers start one after another: each is spawned once the one before it is ready.
    const order = events
      .filter((e) => e.type === 'worker-start' || e.type === 'worker-ready')
      .map((e) => `${e.type}:${e.worker}`);
    expect(order).toEqual([
      'worker-start:1',
      'worker-ready:1',
      'worker-start:2',
      'worker-ready:2',
      'worker-start:3',
      'worker-ready:3',
    ]);
    // Stray stdout is output, not protocol.
    expect(of('worker-output')).toContainEqual(
      expect.objectContaining({ stream: 'stdout', line: 'not a protocol line' }),
    );
    const results = Promise.all([
      supervisor.submit({ council: 'C', input: '300', id: 'a' }),
      supervisor.submit({ council: 'C', input: '300' }),
      supervisor.submit({ council: 'C', input: '300' }),
    ]);
    await new Promise<void>((resolve) => {
      const check = () =>
        supervisor.workers().every((w) => w.runs.length === 1) ? resolve() : setTimeout(check, 5);
      check();
    });
    expect(supervisor.stats()).toMatchObject({ workers: 3, ready: 3, queued: 0, running: 3, restarts: 0 });
    const [a, b, c] = await results;
    expect(a).toMatchObject({ id: 'a', status: 'succeeded', runId: 'run_j1_1' });
    expect(b).not.toHaveProperty('id');
    expect(new Set([a.runId, b.runId, c.runId]).size).toBe(3);
    expect(of('run-result')).toHaveLength(3);
    // Results come in the order the runs end, which a busy machine may shuffle.
    expect(of('run-result').map((e) => e.job)).toContainEqual({ council: 'C', input: '300', id: 'a' });
    await supervisor.idle();

    const pids = supervisor.workers().map((w) => w.pid as number);
    await supervisor.stop();
    await supervisor.done;
    expect(pids.every((pid) => !alive(pid))).toBe(true);
    expect(of('worker-exit')).toEqual(
      pids.map(() => expect.objectContaining({ expected: true, code: 0, signal: null })),
    );
    expect(supervisor.workers().every((w) => w.state === 'stopped' && w.pid === undefined)).toBe(true);
    await expect(supervisor.submit({ council: 'C', input: '1' })).rejects.toMatchObject({
      code: 'harness_not_started',
    });
  });

  it('gives up on a worker that crashes at start every time, with its stderr in the error', async () => {
    const { supervisor, of } = supervise('crash-at-start', {
      restart: { backoffMs: 10, maxRestartsPerMinute: 3 },
    });
    const error = await supervisor.start().then(
      () => undefined,
      (e: unknown) => e as HarnessError,
    );
    expect(error?.code).toBe('worker_crash_loop');
    expect(error?.message).toBe(
      'worker 1 crashed again (exited with code 3) after 3 restarts within a minute; the supervisor gave up',
    );
    expect(error?.hint).toContain('boom: the config is broken');
    expect(error?.details).toMatchObject({ worker: 1, restarts: 3, exit: { code: 3, signal: null } });
    expect(of('worker-exit')).toHaveLength(4);
    expect(of('worker-exit').every((e) => !e.expected && e.code === 3)).toBe(true);
    expect(of('worker-restart').map((e) => [e.restart, e.delayMs])).toEqual([
      [1, 10],
      [2, 20],
      [3, 40],
    ]);
    expect(of('worker-gave-up')).toEqual([expect.objectContaining({ worker: 1, restarts: 3, error })]);
    await expect(supervisor.done).rejects.toBe(error);
    await expect(supervisor.submit({ council: 'C', input: '1' })).rejects.toBe(error);
    expect(supervisor.workers()[0]?.state).toBe('gave-up');
  });

  it('kills a worker that is not ready in time (a crash) and gives up at once with no restarts allowed', async () => {
    const { supervisor, of } = supervise('never-ready', {
      readyTimeoutMs: 200,
      restart: { maxRestartsPerMinute: 0 },
    });
    await expect(supervisor.start()).rejects.toMatchObject({ code: 'worker_crash_loop' });
    expect(of('worker-exit')).toEqual([
      expect.objectContaining({ signal: 'SIGKILL', expected: false, reason: 'not ready within 200 ms' }),
    ]);
  });

  it('a program that cannot be started is a crash like any other', async () => {
    const { supervisor, of } = supervise('', {
      command: join(dir, 'no-such-program'),
      restart: { maxRestartsPerMinute: 0 },
    });
    await expect(supervisor.start()).rejects.toMatchObject({ code: 'worker_crash_loop' });
    expect(of('worker-start')).toEqual([]);
    expect(of('worker-exit')).toEqual([
      expect.objectContaining({
        pid: undefined,
        expected: false,
        reason: expect.stringContaining('could not be started: spawn'),
      }),
    ]);
    await expect(supervisor.start()).rejects.toMatchObject({ code: 'worker_crash_loop' });
  });

  it('sends a job again when its worker died before it started it (command form)', async () => {
    const state = join(dir, `state-${++stateSeq}.json`);
    const { supervisor, of } = supervise('', {
      command: process.execPath,
      args: [fake, 'die-before-start', state],
    });
    await supervisor.start();
    const result = await supervisor.submit({ council: 'C', input: '10' });
    // The second life ran it (the first died on reading it).
    expect(result).toMatchObject({ status: 'succeeded', runId: 'run_j1_2' });
    expect(of('worker-exit')).toEqual([expect.objectContaining({ code: 1, expected: false })]);
    expect(of('worker-restart')).toHaveLength(1);
  });

  it('follows a run its crashed worker left behind to its end in the restarted worker', async () => {
    const { supervisor, of } = supervise('die-mid-run', { workers: 2 });
    await supervisor.start();
    const result = await supervisor.submit({ council: 'C', input: '10', id: 'x' });
    // The first worker started run_j1_1 and was SIGKILLed; the restart resumed it.
    expect(result).toMatchObject({ id: 'x', runId: 'run_j1_1', status: 'succeeded', resumed: true });
    expect(of('worker-exit')).toEqual([
      expect.objectContaining({ worker: 1, signal: 'SIGKILL', reason: 'killed by SIGKILL' }),
    ]);
    expect(of('worker-ready').at(-1)).toMatchObject({ worker: 1, resumed: ['run_j1_1'] });
    expect(of('worker-start').map((e) => [e.worker, e.restarts])).toEqual([
      [1, 0],
      [2, 0],
      [1, 1],
    ]);
    await supervisor.idle();
    expect(supervisor.stats()).toMatchObject({ running: 0, restarts: 1 });
  });

  it('asks the journal about a run that ended just before its worker died', async () => {
    const { supervisor, of } = supervise('die-after-finish');
    await supervisor.start();
    const result = await supervisor.submit({ council: 'C', input: '10' });
    expect(result).toMatchObject({
      runId: 'run_j1_1',
      status: 'succeeded',
      output: 'from the journal',
      lookup: true,
    });
    expect(of('worker-ready').at(-1)?.resumed).toEqual([]);
  });

  it('cancels: a queued job rejects, a running one ends aborted', async () => {
    const { supervisor } = supervise('echo');
    const queued = new AbortController();
    const waiting = supervisor.submit({ council: 'C', input: '10' }, { signal: queued.signal });
    queued.abort();
    await expect(waiting).rejects.toMatchObject({
      code: 'aborted',
      message: 'the job was aborted before a worker took it',
    });
    await supervisor.start();
    const running = new AbortController();
    const slow = supervisor.submit({ council: 'C', input: '5000' }, { signal: running.signal });
    await new Promise<void>((resolve) => {
      const check = () => (supervisor.workers()[0]?.runs.length ? resolve() : setTimeout(check, 5));
      check();
    });
    running.abort();
    await expect(slow).resolves.toMatchObject({ status: 'aborted', error: { code: 'aborted' } });
    await expect(supervisor.submit({ council: ' ', input: 'x' })).rejects.toMatchObject({
      code: 'prompt_invalid',
      location: { path: 'WorkerJob.council' },
    });
  });

  it('SIGKILLs a worker that does not stop within the grace period; its run is left for the next start', async () => {
    const { supervisor, of, state } = supervise('ignore-term', { stopGraceMs: 300 });
    await supervisor.start();
    const job = supervisor.submit({ council: 'C', input: '60000' });
    await new Promise<void>((resolve) => {
      const check = () => (supervisor.workers()[0]?.runs.length ? resolve() : setTimeout(check, 5));
      check();
    });
    const pid = supervisor.workers()[0]?.pid as number;
    const stopped = Date.now();
    await supervisor.stop();
    expect(Date.now() - stopped).toBeGreaterThanOrEqual(290);
    expect(alive(pid)).toBe(false);
    expect(of('worker-exit')).toEqual([expect.objectContaining({ expected: true, signal: 'SIGKILL' })]);
    expect(of('worker-output')).toContainEqual(
      expect.objectContaining({ stream: 'stderr', line: 'got SIGTERM' }),
    );
    await expect(job).rejects.toMatchObject({
      code: 'aborted',
      message:
        'the supervisor stopped before run run_j1_1 ended; it resumes from the journal when a worker starts again',
    });
    expect(existsSync(state)).toBe(true);
  });
});
