/**
 * The conformance suite every `Engine` passes (ARCHITECTURE.md §4): admission and execution,
 * results and refusals, abort before start, and interrupted runs found for resumption. Call
 * `engineConformance(name, factory)` from an engine's test file.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createScheduler,
  type Engine,
  HarnessError,
  type RunResult,
  type Scheduler,
  SqliteJournal,
} from 'forge-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

export type EngineFactory = (deps: { scheduler: Scheduler; journal: SqliteJournal }) => Engine;

const result = (runId: string, output: string): RunResult => ({
  runId,
  council: 'C',
  status: 'succeeded',
  output,
  agents: [],
  usage: { inputTokens: 0, outputTokens: 0, costUsd: 0, modelCalls: 0 },
  durationMs: 0,
});

const job = (runId: string) => ({ runId, council: 'C', tenant: 't', priority: 'normal' as const });

/** A pid that no process has any more. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

export function engineConformance(name: string, factory: EngineFactory): void {
  describe(`Engine conformance: ${name}`, () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'forge-engine-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('executes work once admitted and resolves with its result', async () => {
      const journal = new SqliteJournal(join(dir, 'a.db'));
      const engine = factory({ scheduler: createScheduler(), journal });
      const out = await engine.execute(
        job('r1'),
        async () => result('r1', 'done'),
        new AbortController().signal,
      );
      expect(out.output).toBe('done');
      await engine.close();
      journal.close();
    });

    it('holds runs beyond the concurrency cap until a slot frees, and refuses an aborted wait', async () => {
      const journal = new SqliteJournal(join(dir, 'b.db'));
      const engine = factory({ scheduler: createScheduler({ maxConcurrentRuns: 1 }), journal });
      let running = 0;
      let peak = 0;
      const work = (id: string) => async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
        return result(id, id);
      };
      const outs = await Promise.all(
        ['x', 'y', 'z'].map((id) => engine.execute(job(id), work(id), new AbortController().signal)),
      );
      expect(outs.map((o) => o.output)).toEqual(['x', 'y', 'z']);
      expect(peak).toBe(1);

      const holder = new AbortController();
      let free: () => void = () => {};
      const held = engine.execute(
        job('hold'),
        () => new Promise<RunResult>((resolve) => (free = () => resolve(result('hold', 'held')))),
        holder.signal,
      );
      const waiting = new AbortController();
      const refused = engine.execute(job('w'), async () => result('w', 'never'), waiting.signal);
      waiting.abort();
      const error = await refused.catch((e: unknown) => e);
      expect(HarnessError.isInstance(error) && error.code).toBe('aborted');
      await new Promise((r) => setTimeout(r, 10));
      free();
      expect((await held).output).toBe('held');
      await engine.close();
      journal.close();
    });

    it('lists runs whose worker died as interrupted, not finished runs or its own', async () => {
      const journal = new SqliteJournal(join(dir, 'c.db'));
      const engine = factory({ scheduler: createScheduler(), journal });
      for (const id of ['orphan', 'mine', 'finished']) {
        journal.createRun({
          runId: id,
          council: 'C',
          input: 'x',
          tenant: 't',
          councilHash: 'h',
          options: {},
        });
      }
      journal.finishRun('finished', 'succeeded', { output: '', usage: result('', '').usage });
      // The orphan's owner is a process that has exited; `mine` belongs to this live process.
      journal.claimRun('orphan');
      const db = journal as unknown as { getRun(id: string): { ownerPid: number } };
      expect(db.getRun('orphan').ownerPid).toBe(process.pid);
      const dead = deadPid();
      const raw = new (await import('node:sqlite')).DatabaseSync(join(dir, 'c.db'));
      raw.prepare('UPDATE runs SET owner_pid = ? WHERE run_id = ?').run(dead, 'orphan');
      raw.close();
      expect(engine.interrupted()).toEqual(['orphan']);
      await engine.close();
      journal.close();
    });
  });
}
