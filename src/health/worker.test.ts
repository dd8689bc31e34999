import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { councilHash, Harness } from '../runtime/harness.ts';
import { SqliteJournal } from '../runtime/journal.ts';
import { parseCommand, runWorker, type WorkerMessage } from './worker.ts';

const dir = mkdtempSync(join(tmpdir(), 'forge-worker-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function harness(journal: string | false, latencyMs = 0) {
  return new Harness({
    models: [{ id: 'sim', type: 'simulated', latencyMs }],
    councils: [
      {
        name: 'Pair',
        memory: 'memory://',
        agents: [
          { name: 'A', model: 'sim' },
          { name: 'B', model: 'sim' },
        ],
      },
    ],
    journal,
  });
}

/** A worker over in-memory streams: `send` lines in, read the messages it wrote. */
function serve(h: Harness, options: { signal?: AbortSignal } = {}) {
  const input = new PassThrough();
  const messages: WorkerMessage[] = [];
  const waiters: Array<() => void> = [];
  const done = runWorker(h, {
    input,
    write: (line) => {
      expect(line.endsWith('\n')).toBe(true);
      messages.push(JSON.parse(line) as WorkerMessage);
      for (const w of waiters.splice(0)) w();
    },
    ...options,
  });
  /** Resolves once a message matching `test` has been written. */
  const until = (test: (m: WorkerMessage) => boolean) =>
    new Promise<WorkerMessage>((resolve) => {
      const check = () => {
        const found = messages.find(test);
        if (found) resolve(found);
        else waiters.push(check);
      };
      check();
    });
  return { input, messages, done, until, send: (o: unknown) => input.write(`${JSON.stringify(o)}\n`) };
}

describe('runWorker', () => {
  it('says ready, runs jobs (started, then result with the job id), and drains at the end of input', async () => {
    const h = harness(join(dir, 'jobs.db'), 40);
    try {
      const w = serve(h);
      await w.until((m) => m.type === 'ready');
      expect(w.messages[0]).toEqual({ type: 'ready', pid: process.pid, protocol: 1, resumed: [] });
      w.send({ id: 'j1', council: 'Pair', input: 'first question' });
      w.send({ type: 'run', council: 'Pair', input: 'second question', priority: 'high', tenant: 'acme' });
      w.input.end();
      const summary = await w.done;
      expect(summary).toEqual({ resumed: [], jobs: 2, succeeded: 2, failed: 0, rejected: 0 });
      const started = w.messages.filter((m) => m.type === 'started');
      expect(started).toEqual([
        { type: 'started', id: 'j1', runId: expect.stringMatching(/^run_/) },
        { type: 'started', runId: expect.stringMatching(/^run_/) },
      ]);
      const results = w.messages.filter((m) => m.type === 'result');
      expect(results).toHaveLength(2);
      const first = results.find((r) => r.runId === started[0]?.runId);
      expect(first).toMatchObject({
        id: 'j1',
        council: 'Pair',
        status: 'succeeded',
        usage: { modelCalls: 2 },
      });
      expect(first?.output).not.toBe('');
      const second = results.find((r) => r.runId === started[1]?.runId);
      expect(second).not.toHaveProperty('id');
      expect(h.journal?.getRun(second?.runId ?? '')?.tenant).toBe('acme');
    } finally {
      await h.stop();
    }
  });

  it('rejects lines that are no command, naming the line; a failed run is a result', async () => {
    const h = harness(':memory:');
    try {
      const w = serve(h);
      w.input.write('not json\n\n');
      w.send({ id: 'x', council: 'Pair' });
      w.send({ id: 'y', council: 'Nope', input: 'hi' });
      w.input.end();
      const summary = await w.done;
      expect(summary).toMatchObject({ jobs: 1, failed: 1, rejected: 2 });
      expect(w.messages.filter((m) => m.type === 'rejected')).toEqual([
        {
          type: 'rejected',
          line: 1,
          error: expect.objectContaining({ code: 'prompt_invalid', message: 'line 1: not JSON' }),
        },
        {
          type: 'rejected',
          line: 3,
          id: 'x',
          error: expect.objectContaining({ message: 'line 3: "input" is missing or empty' }),
        },
      ]);
      expect(w.messages.find((m) => m.type === 'result')).toMatchObject({
        id: 'y',
        status: 'failed',
        error: { code: 'unknown_council', hint: 'councils: Pair' },
      });
    } finally {
      await h.stop();
    }
  });

  it('cancel aborts a run (by job id or run id); the result says aborted', async () => {
    const h = harness(':memory:', 2000);
    try {
      const w = serve(h);
      w.send({ id: 'slow', council: 'Pair', input: 'take your time' });
      w.send({ id: 'slow2', council: 'Pair', input: 'take your time too' });
      const s2 = await w.until((m) => m.type === 'started' && m.id === 'slow2');
      w.send({ type: 'cancel', id: 'slow' });
      w.send({ type: 'cancel', runId: s2.type === 'started' ? s2.runId : '' });
      w.input.end();
      const summary = await w.done;
      expect(summary.failed).toBe(2);
      const results = w.messages.filter((m) => m.type === 'result');
      expect(results.map((r) => [r.id, r.status, r.error?.code])).toEqual(
        expect.arrayContaining([
          ['slow', 'aborted', 'aborted'],
          ['slow2', 'aborted', 'aborted'],
        ]),
      );
    } finally {
      await h.stop();
    }
  });

  it('answers lookups from the journal: a finished run, one still running, one unknown', async () => {
    const path = join(dir, 'lookup.db');
    const h = harness(path);
    try {
      const done = await h.run('Pair', 'finished before');
      const w = serve(h);
      w.send({ type: 'lookup', runId: done.runId });
      w.send({ type: 'lookup', runId: 'run_nope' });
      w.input.end();
      await w.done;
      expect(w.messages.filter((m) => m.type !== 'ready')).toEqual([
        expect.objectContaining({
          type: 'result',
          runId: done.runId,
          status: 'succeeded',
          output: done.output,
          lookup: true,
        }),
        { type: 'lookup', runId: 'run_nope', status: 'unknown' },
      ]);
    } finally {
      await h.stop();
    }
  });

  it('resumes the runs of a dead process first, and lists them in ready', async () => {
    const path = join(dir, 'resume.db');
    const h = harness(path);
    try {
      // A run left `running` by a process that is gone.
      const journal = new SqliteJournal(path);
      journal.createRun({
        runId: 'run_orphan',
        council: 'Pair',
        input: 'left behind',
        tenant: 'default',
        councilHash: councilHash(h.council('Pair')),
        options: {},
      });
      journal.close();
      const dead = spawnSync(process.execPath, ['-e', '']).pid;
      const db = new DatabaseSync(path);
      db.prepare('UPDATE runs SET owner_pid = ? WHERE run_id = ?').run(dead, 'run_orphan');
      db.close();

      const w = serve(h);
      const ready = await w.until((m) => m.type === 'ready');
      expect(ready).toMatchObject({ resumed: ['run_orphan'] });
      w.input.end();
      const summary = await w.done;
      expect(summary).toMatchObject({ resumed: ['run_orphan'], jobs: 0, succeeded: 1 });
      expect(w.messages.find((m) => m.type === 'result')).toMatchObject({
        runId: 'run_orphan',
        status: 'succeeded',
        resumed: true,
      });
      expect(h.journal?.getRun('run_orphan')).toMatchObject({ status: 'succeeded', attempts: 2 });
    } finally {
      await h.stop();
    }
  });

  it('stops reading at the signal and lets the runs in flight finish', async () => {
    const h = harness(':memory:', 100);
    const stop = new AbortController();
    try {
      const w = serve(h, { signal: stop.signal });
      w.send({ id: 'a', council: 'Pair', input: 'one' });
      await w.until((m) => m.type === 'started');
      stop.abort();
      // Read after the stop: never run.
      w.send({ id: 'b', council: 'Pair', input: 'two' });
      const summary = await w.done;
      expect(summary).toMatchObject({ jobs: 1, succeeded: 1 });
      expect(w.messages.filter((m) => m.type === 'result').map((m) => m.id)).toEqual(['a']);
    } finally {
      await h.stop();
    }
  });

  it('needs the journal', async () => {
    const h = harness(false);
    try {
      await expect(runWorker(h, { input: new PassThrough(), write: () => {} })).rejects.toMatchObject({
        code: 'journal_error',
      });
    } finally {
      await h.stop();
    }
  });
});

describe('parseCommand', () => {
  it('reads runs, cancels and lookups, and names what is wrong', () => {
    expect(parseCommand('{"council":"C","input":"x"}', 1)).toEqual({ type: 'run', council: 'C', input: 'x' });
    expect(parseCommand('{"type":"cancel","id":"j"}', 1)).toEqual({ type: 'cancel', id: 'j' });
    expect(parseCommand('{"type":"lookup","runId":"r"}', 1)).toEqual({ type: 'lookup', runId: 'r' });
    const bad = (line: string) => {
      try {
        parseCommand(line, 7);
      } catch (error) {
        return (error as Error).message;
      }
      return 'accepted';
    };
    expect(bad('[1]')).toBe('line 7: not a JSON object');
    expect(bad('{"input":"x"}')).toBe('line 7: "council" is missing');
    expect(bad('{"council":"C","input":"x","priority":"urgent"}')).toBe(
      'line 7: "priority" "urgent" is not a priority',
    );
    expect(bad('{"council":"C","input":3}')).toBe('line 7: "input" must be a string');
    expect(bad('{"type":"cancel"}')).toBe('line 7: cancel names no run');
    expect(bad('{"type":"explode"}')).toBe('line 7: unknown type "explode"');
  });
});
