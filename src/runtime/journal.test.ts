import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { thrown } from '../../test/harness-errors.ts';
import { EventLog } from './events.ts';
import { checkpointEvery, maxPendingEvents, SqliteJournal, walHighWater } from './journal.ts';

let dir: string;
let n = 0;
const open: SqliteJournal[] = [];
const readers: DatabaseSync[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'forge-journal-unit-'));
});
afterEach(() => {
  for (const j of open.splice(0)) j.close();
  for (const db of readers.splice(0)) if (db.isOpen) db.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh journal file, its run `r1`, an event log that appends to it, and a second connection. */
function setup(options: { busyTimeoutMs?: number; path?: string } = {}) {
  const path = options.path ?? join(dir, `j${++n}.db`);
  const journal = new SqliteJournal(
    path,
    options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs },
  );
  open.push(journal);
  journal.createRun({
    runId: 'r1',
    council: 'c',
    input: 'hi',
    tenant: 'default',
    councilHash: 'h',
    options: {},
  });
  const log = new EventLog('r1');
  log.subscribe((event) => journal.appendEvent(event, 1));
  const other = new DatabaseSync(path);
  readers.push(other);
  /** What another process sees: the seqs of r1's events and its step keys. */
  const seen = () => ({
    events: (
      other.prepare("SELECT seq FROM events WHERE run_id = 'r1' ORDER BY seq").all() as Array<{ seq: number }>
    ).map((r) => r.seq),
    steps: (
      other.prepare("SELECT key FROM steps WHERE run_id = 'r1' ORDER BY key").all() as Array<{ key: string }>
    ).map((r) => r.key),
  });
  const emit = (count: number) => {
    for (let i = 0; i < count; i++) log.emit(['c'], { type: 'step-start', step: i + 1 });
  };
  return { path, journal, other, seen, emit };
}

/** Runs an ES module `script` in a new node process with `JOURNAL` set to `path`. */
async function runScript(script: string, path: string) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, JOURNAL: path },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  // Bounded: a child that never ends fails the test instead of hanging it.
  const timer = setTimeout(() => child.kill('SIGTERM'), 15_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('exit', (c, sig) => resolve([c, sig])),
  );
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}

/** Polls `check` every 10 ms until it holds, failing after `ms`. */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('SqliteJournal event batching', () => {
  it('writes a turn’s events in one go at the end of the turn, in order', async () => {
    const { seen, emit } = setup();
    emit(3);
    expect(seen().events).toEqual([]);
    await nextTurn();
    expect(seen().events).toEqual([0, 1, 2]);
    emit(2);
    await nextTurn();
    expect(seen().events).toEqual([0, 1, 2, 3, 4]);
  });

  it('commits a step with every event before it, before recordStep returns', () => {
    const { journal, seen, emit } = setup();
    emit(2);
    journal.recordStep('r1', { key: 'c/A', kind: 'agent', output: { text: 'a' } });
    expect(seen()).toEqual({ events: [0, 1], steps: ['c/A'] });
  });

  it('loses nothing at finishRun, at close, or for a reader in the same process', () => {
    const { journal, path, seen, emit } = setup();
    emit(2);
    expect(journal.events('r1').map((e) => e.seq)).toEqual([0, 1]);
    emit(1);
    journal.finishRun('r1', 'succeeded', {
      output: 'done',
      usage: { inputTokens: 0, outputTokens: 0, costUsd: 0, modelCalls: 0 },
    });
    expect(seen().events).toEqual([0, 1, 2]);
    emit(2);
    journal.close();
    expect(seen().events).toEqual([0, 1, 2, 3, 4]);
    const again = new SqliteJournal(path);
    open.push(again);
    expect(again.getRun('r1')?.status).toBe('succeeded');
    expect(again.events('r1').map((e) => [e.seq, e.attempt])).toEqual([
      [0, 1],
      [1, 1],
      [2, 1],
      [3, 1],
      [4, 1],
    ]);
  });

  it('refuses events once closed', () => {
    const { journal, emit } = setup();
    journal.close();
    const log = new EventLog('r1');
    const error = thrown(() => journal.appendEvent(log.emit([], { type: 'step-start', step: 1 }), 1));
    expect(error.code).toBe('journal_error');
    expect(error.message).toMatch(/closed/);
    // Through an event log the failure stays with the listener; the run is not broken by it.
    expect(() => emit(1)).not.toThrow();
  });

  it(`writes at once when ${maxPendingEvents} events are waiting, without waiting for the turn`, () => {
    const { seen, emit } = setup();
    emit(maxPendingEvents - 1);
    expect(seen().events).toHaveLength(0);
    emit(1);
    expect(seen().events).toHaveLength(maxPendingEvents);
  });

  it('keeps a batch that could not be written; the next write reports it, and nothing is lost', async () => {
    const { journal, other, seen, emit } = setup({ busyTimeoutMs: 20 });
    // Another writer holds the file's write lock: the end-of-turn write fails (busy).
    other.exec('BEGIN IMMEDIATE');
    emit(2);
    await nextTurn();
    const error = thrown(() => journal.recordStep('r1', { key: 'c/A', kind: 'agent', output: 'a' }));
    expect(error.code).toBe('journal_error');
    expect(error.hint).toMatch(/locked/);
    other.exec('COMMIT');
    journal.recordStep('r1', { key: 'c/A', kind: 'agent', output: 'a' });
    expect(seen()).toEqual({ events: [0, 1], steps: ['c/A'] });
  });

  it('a SIGKILL loses at most the events of the turn it interrupts, never a step', async () => {
    const path = join(dir, 'crash.db');
    const script = `
      import { SqliteJournal } from ${JSON.stringify(new URL('./journal.ts', import.meta.url).href)};
      import { EventLog } from ${JSON.stringify(new URL('./events.ts', import.meta.url).href)};
      const journal = new SqliteJournal(process.env.JOURNAL);
      journal.createRun({ runId: 'r1', council: 'c', input: 'hi', tenant: 'default', councilHash: 'h', options: {} });
      const log = new EventLog('r1');
      log.subscribe((event) => journal.appendEvent(event, 1));
      log.emit(['c'], { type: 'step-start', step: 1 });
      log.emit(['c'], { type: 'step-start', step: 2 });
      await new Promise((resolve) => setImmediate(resolve));
      log.emit(['c'], { type: 'step-start', step: 3 });
      journal.recordStep('r1', { key: 'c/A', kind: 'agent', output: 'a' });
      log.emit(['c'], { type: 'step-start', step: 4 });
      log.emit(['c'], { type: 'step-start', step: 5 });
      process.kill(process.pid, 'SIGKILL');
    `;
    const { signal, stderr } = await runScript(script, path);
    expect(signal, stderr).toBe('SIGKILL');
    const journal = new SqliteJournal(path);
    open.push(journal);
    expect(journal.getRun('r1')?.status).toBe('running');
    expect(journal.step('r1', 'c/A')?.output).toBe('a');
    // seq 0-1: end of their turn; seq 2: with the step; seq 3-4: the interrupted turn.
    expect(journal.events('r1').map((e) => e.seq)).toEqual([0, 1, 2]);
  });
});

describe('SqliteJournal step lookups', () => {
  const insertStep = (other: DatabaseSync, key: string) =>
    other
      .prepare(
        "INSERT INTO steps (run_id, key, kind, output, usage, finished_at) VALUES ('r1', ?, 'tool', '\"b\"', NULL, 0)",
      )
      .run(key);

  it('a run created here misses in memory for keys it never recorded, until it ends', () => {
    const { journal, other } = setup();
    journal.recordStep('r1', { key: 'c/A', kind: 'agent', output: 'a' });
    expect(journal.step('r1', 'c/A')?.output).toBe('a');
    // A row no one but this journal may write while the run is its own: not asked for.
    insertStep(other, 'c/B');
    expect(journal.step('r1', 'c/B')).toBeUndefined();
    journal.finishRun('r1', 'failed', {
      output: '',
      usage: { inputTokens: 0, outputTokens: 0, costUsd: 0, modelCalls: 0 },
    });
    expect(journal.step('r1', 'c/B')?.output).toBe('b');
  });

  it('a claimed run asks SQLite again (another journal may have written its steps)', () => {
    const { journal, other } = setup();
    insertStep(other, 'c/B');
    expect(journal.step('r1', 'c/B')).toBeUndefined();
    expect(journal.claimRun('r1').attempts).toBe(2);
    expect(journal.step('r1', 'c/B')?.output).toBe('b');
  });
});

describe('SqliteJournal checkpoints', () => {
  const commits = (journal: SqliteJournal, prefix: string, count: number) => {
    for (let i = 0; i < count; i++)
      journal.recordStep('r1', { key: `${prefix}${i}`, kind: 'tool', output: 'x'.repeat(200) });
  };

  it('runs them in a worker thread, and the WAL starts over after each', async () => {
    const { journal, path, other } = setup();
    other.close();
    expect(journal.checkpoints.background).toBe(true);
    // With the run's creation, the last of these is commit number checkpointEvery: the request
    // goes out after it, and no commit can land behind the checkpoint.
    commits(journal, 'a', checkpointEvery - 1);
    await until(() => journal.checkpoints.done === 1, 'the first checkpoint');
    const first = journal.checkpoints;
    expect(first.lastCheckpointed).toBe(first.lastLog);
    commits(journal, 'b', checkpointEvery);
    await until(() => journal.checkpoints.done === 2, 'the second checkpoint');
    // Written over from its start, not appended to: about as many frames as the first time.
    expect(journal.checkpoints.lastLog).toBeLessThan(first.lastLog * 1.5);
    expect(journal.checkpoints.catchUps).toBe(0);
    // Closing ends the worker first; this connection, the last, merges the rest and removes the WAL.
    journal.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
    const again = new SqliteJournal(path);
    open.push(again);
    expect(again.stepCount('r1')).toBe(2 * checkpointEvery - 1);
  });

  it(`lets the WAL start over itself when it passed ${walHighWater} frames without a break in the commits`, async () => {
    const { journal, other } = setup();
    other.close();
    // Written without a pause, so the worker's checkpoint cannot finish between two commits.
    const pages = Math.ceil(walHighWater / checkpointEvery) + 1;
    for (let i = 0; i < checkpointEvery; i++) {
      journal.recordStep('r1', { key: `big${i}`, kind: 'tool', output: 'x'.repeat(pages * 4096) });
    }
    await until(() => journal.checkpoints.done === 1, 'the checkpoint', 20_000);
    expect(journal.checkpoints.lastLog).toBeGreaterThan(walHighWater);
    expect(journal.checkpoints.catchUps).toBe(1);
  });

  it('falls back to checkpointing on the connection when the worker cannot open the file', async () => {
    const real = join(dir, 'real');
    mkdirSync(real);
    const link = join(dir, 'link');
    symlinkSync(real, link);
    const { journal } = setup({ path: join(link, 'j.db') });
    // The writer keeps its open file; the worker, started at the first checkpoint, finds no path.
    rmSync(link);
    commits(journal, 'a', checkpointEvery);
    await until(() => !journal.checkpoints.background, 'the fallback');
    commits(journal, 'b', 10);
    expect(journal.stepCount('r1')).toBe(checkpointEvery + 10);
    expect(journal.checkpoints.done).toBe(0);
  });

  it('never keeps the process alive: a script that does not close its journal ends', async () => {
    const script = `
      import { SqliteJournal, checkpointEvery } from ${JSON.stringify(new URL('./journal.ts', import.meta.url).href)};
      const journal = new SqliteJournal(process.env.JOURNAL);
      journal.createRun({ runId: 'r1', council: 'c', input: 'hi', tenant: 'default', councilHash: 'h', options: {} });
      for (let i = 0; i < checkpointEvery; i++) journal.recordStep('r1', { key: 'k' + i, kind: 'tool', output: 'x' });
      while (journal.checkpoints.done === 0 && journal.checkpoints.background) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      process.stdout.write(JSON.stringify(journal.checkpoints));
    `;
    const path = join(dir, 'no-close.db');
    const { code, signal, stdout, stderr } = await runScript(script, path);
    expect({ code, signal }, stderr).toEqual({ code: 0, signal: null });
    // The worker ran there (run as \`node --input-type=module\`, which eval'd workers inherit).
    expect(JSON.parse(stdout)).toMatchObject({ background: true, done: 1 });
    const journal = new SqliteJournal(path);
    open.push(journal);
    expect(journal.stepCount('r1')).toBe(checkpointEvery);
  });

  it('a :memory: journal has no WAL and no worker', () => {
    const journal = new SqliteJournal(':memory:');
    open.push(journal);
    expect(journal.checkpoints.background).toBe(false);
  });
});
