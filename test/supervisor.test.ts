/**
 * Node crash (seed §5.2): a real supervisor over real `forge worker` processes sharing one SQLite
 * journal, on a simulated slow model. A worker SIGKILLed mid-run is restarted, its successor
 * resumes the run from the journal and finishes it with the result an uninterrupted run has,
 * replaying the steps that had finished instead of running them again. A worker that cannot
 * start makes the supervisor give up; a graceful stop leaves no process behind.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Harness, SqliteJournal } from 'forge-harness';
import { afterAll, describe, expect, it } from 'vitest';
import type { HarnessError } from '../src/errors.ts';
import { createSupervisor, type Supervisor, type SupervisorEvent } from '../src/health/supervisor.ts';

const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'forge-supervise-'));
const config = join(dir, 'councils.yaml');
const agents = Array.from({ length: 8 }, (_, i) => `A${i + 1}`);
writeFileSync(
  config,
  `models:
  - id: slow
    type: simulated
    latency_ms: 150
councils:
  - name: Long
    memory: memory://
    agents:
${agents.map((a) => `      - { name: ${a}, model: slow }`).join('\n')}
`,
);

const supervisors: Supervisor[] = [];
afterAll(async () => {
  await Promise.all(supervisors.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

function supervise(args: string[], options: { workers: number; maxRestartsPerMinute?: number }) {
  const events: SupervisorEvent[] = [];
  const supervisor = createSupervisor({
    script: main,
    nodeArgs: ['--conditions=forge-source'],
    args: ['worker', ...args],
    env: { PATH: process.env.PATH ?? '' },
    workers: options.workers,
    restart: {
      backoffMs: 50,
      ...(options.maxRestartsPerMinute === undefined
        ? {}
        : { maxRestartsPerMinute: options.maxRestartsPerMinute }),
    },
    output: 'events',
    onEvent: (event) => events.push(event),
  });
  supervisors.push(supervisor);
  const of = <T extends SupervisorEvent['type']>(type: T) =>
    events.filter((e) => e.type === type) as Array<Extract<SupervisorEvent, { type: T }>>;
  return { supervisor, events, of };
}

/** Polls `test` until it holds (a child process's progress has no event to await here). */
async function until(what: string, test: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('supervised workers', () => {
  it('a worker SIGKILLed mid-run is restarted and its run resumes from the journal: same result, no finished step repeated', async () => {
    const journal = join(dir, 'journal.db');
    const { supervisor, events, of } = supervise(['--config', config, '--journal', journal], { workers: 2 });
    await supervisor.start();
    expect(of('worker-ready').map((e) => [e.worker, e.resumed])).toEqual([
      [1, []],
      [2, []],
    ]);

    const inputs = ['Count the steps, first.', 'Count the steps, second.'];
    const jobs = inputs.map((input, i) => supervisor.submit({ council: 'Long', input, id: `job${i}` }));
    await until('both workers to run a job', () => supervisor.workers().every((w) => w.runs.length === 1));
    const victim = supervisor.workers()[0];
    const runId = victim?.runs[0] as string;
    const pid = victim?.pid as number;

    // Kill once a few agents have finished (their steps are in the journal).
    const db = new DatabaseSync(journal, { readOnly: true });
    const agentSteps = () =>
      (
        db.prepare("SELECT key FROM steps WHERE run_id = ? AND kind = 'agent'").all(runId) as Array<{
          key: string;
        }>
      ).map((r) => r.key);
    await until('three agents of the run to finish', () => agentSteps().length >= 3);
    process.kill(pid, 'SIGKILL');
    await until('the worker to be gone', () => of('worker-exit').length > 0);
    const finishedBeforeKill = agentSteps();
    db.close();
    expect(finishedBeforeKill.length).toBeGreaterThanOrEqual(3);
    expect(finishedBeforeKill.length).toBeLessThan(agents.length);

    const results = await Promise.all(jobs);
    const killed = results.find((r) => r.runId === runId);
    const other = results.find((r) => r.runId !== runId);
    expect(killed?.status, killed?.error?.message).toBe('succeeded');
    expect(other?.status, other?.error?.message).toBe('succeeded');
    expect(killed?.resumed).toBe(true);
    expect(killed?.usage.modelCalls).toBe(agents.length);

    // The supervisor saw the crash, restarted worker 1, and the new process resumed the run.
    expect(of('worker-exit')).toEqual([
      expect.objectContaining({
        worker: 1,
        pid,
        signal: 'SIGKILL',
        expected: false,
        reason: 'killed by SIGKILL',
      }),
    ]);
    expect(of('worker-restart')).toEqual([expect.objectContaining({ worker: 1, restart: 1, delayMs: 50 })]);
    expect(of('worker-ready').at(-1)).toMatchObject({ worker: 1, resumed: [runId] });
    expect(of('worker-ready').at(-1)?.pid).not.toBe(pid);
    expect(events.filter((e) => e.type === 'worker-gave-up')).toEqual([]);

    // Same output as an uninterrupted run of the same input (the simulated model is deterministic).
    const reference = await Harness.fromFile(config, {
      journal: false,
      modelOverrides: { slow: { latencyMs: 0 } },
    });
    try {
      for (const result of results) {
        const input = inputs[Number(result.id?.slice(3))] as string;
        expect(result.output).toBe((await reference.run('Long', input)).output);
      }
    } finally {
      await reference.stop();
    }

    // The journal: one run, two attempts, succeeded; the second attempt replayed every agent that
    // had finished and ran only the others.
    const j = new SqliteJournal(journal);
    try {
      expect(j.getRun(runId)).toMatchObject({ status: 'succeeded', attempts: 2, output: killed?.output });
      expect(j.getRun(other?.runId ?? '')).toMatchObject({ status: 'succeeded', attempts: 1 });
      const second = j.events(runId).filter((e) => e.attempt === 2);
      expect(second.find((e) => e.type === 'run-resume')).toMatchObject({ attempt: 2 });
      const replayed = second.flatMap((e) => (e.type === 'step-replayed' ? [e.key] : []));
      for (const key of finishedBeforeKill) expect(replayed).toContain(key);
      const doneAgents = finishedBeforeKill.map((k) => k.split('/').at(-1));
      const rerun = second.flatMap((e) => (e.type === 'agent-start' ? [e.agent] : []));
      expect(rerun).toEqual(agents.filter((a) => !doneAgents.includes(a)));
      const calls = second.filter((e) => e.type === 'model-call-start').length;
      expect(calls).toBeLessThanOrEqual(agents.length - doneAgents.length);
    } finally {
      j.close();
    }

    // Graceful stop: workers drain and exit 0, no process left.
    const pids = supervisor.workers().map((w) => w.pid as number);
    expect(pids.every(alive)).toBe(true);
    await supervisor.stop();
    await supervisor.done;
    expect(pids.filter(alive)).toEqual([]);
    const stops = of('worker-exit').filter((e) => e.expected);
    expect(stops.map((e) => [e.code, e.signal])).toEqual([
      [0, null],
      [0, null],
    ]);
  }, 90_000);

  it('a worker that crashes at start every time: the supervisor gives up after the limit, with the error', async () => {
    const { supervisor, of } = supervise(['--config', join(dir, 'missing.yaml')], {
      workers: 1,
      maxRestartsPerMinute: 1,
    });
    const error = await supervisor.start().then(
      () => undefined,
      (e: unknown) => e as HarnessError,
    );
    expect(error?.code).toBe('worker_crash_loop');
    expect(error?.message).toBe(
      'worker 1 crashed again (exited with code 3) after 1 restart within a minute; the supervisor gave up',
    );
    // The worker's own error line (config_not_found, exit code 3) is in the give-up error.
    expect(error?.hint).toMatch(/forge: config_not_found: .*missing\.yaml/);
    expect(of('worker-exit').map((e) => e.code)).toEqual([3, 3]);
    expect(of('worker-restart')).toHaveLength(1);
    expect(of('worker-gave-up')).toEqual([expect.objectContaining({ worker: 1, restarts: 1, error })]);
    await expect(supervisor.done).rejects.toBe(error);
  }, 60_000);
});
