/**
 * Crash-resume through real processes: a worker running a 50-step council is SIGKILLed at random
 * points (after it made progress), a new worker resumes the run from the SQLite journal each time,
 * and the run ends with the same result as an uninterrupted one. The FakeProviderServer's request
 * log proves no journaled model call was sent twice: the only repeats are calls that were in flight
 * when a worker died.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { FakeProviderServer, type RecordedRequest } from 'forge-harness/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exited, killSpawned, lines, track } from './processes.ts';

const child = fileURLToPath(new URL('./journal-child.ts', import.meta.url));

let dir: string;
let fake: FakeProviderServer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'forge-journal-'));
  fake = await FakeProviderServer.start({ maxRecordedRequests: 100_000 });
});
afterAll(async () => {
  killSpawned();
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

interface ChildResult {
  runId: string;
  status: string;
  output: string;
  agents: Array<{ name: string; model: string; output: string }>;
  usage: { inputTokens: number; outputTokens: number; modelCalls: number };
  error?: string;
}

function worker(mode: string, journal: string, effects?: string) {
  const proc = track(
    spawn(
      process.execPath,
      ['--conditions=forge-source', child, mode, fake.url, journal, ...(effects ? [effects] : [])],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ),
  );
  let stderr = '';
  let lineSeen: (line: string) => void = () => {};
  const seen = (wanted: string) =>
    new Promise<void>((resolve) => {
      lineSeen = (line) => {
        if (line === wanted) resolve();
      };
    });
  proc.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const output = (async () => {
    const it = lines(proc);
    for (let next = await it.next(); !next.done; next = await it.next()) {
      if (next.value.startsWith('[')) return JSON.parse(next.value) as ChildResult[];
      lineSeen(next.value);
    }
    return undefined;
  })();
  return { proc, output, stderr: () => stderr, seen };
}

/** The last user text of a recorded chat request: it names the step (every step's prompt differs). */
function promptOf(request: RecordedRequest): string {
  const body = request.body as { messages?: Array<{ role: string; content: unknown }> };
  const user = (body.messages ?? []).filter((m) => m.role === 'user').at(-1);
  return JSON.stringify(user?.content);
}

describe('crash-resume from the journal', () => {
  it('survives 20+ SIGKILLs of a 50-step run: same result, no journaled model call made twice', async () => {
    // Each call takes a little while, so kills land before, during and after model calls.
    fake.injectFault({ latencyMs: 15, times: 100_000 });

    // The uninterrupted reference.
    const reference = worker('run', join(dir, 'reference.db'));
    const expected = (await reference.output)?.[0];
    expect(await exited(reference.proc), reference.stderr()).toBe(0);
    expect(expected?.status).toBe('succeeded');
    expect(expected?.agents).toHaveLength(50);

    fake.reset();
    fake.injectFault({ latencyMs: 15, times: 100_000 });
    const journal = join(dir, 'crashy.db');
    const random = fc.sample(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 12 })), {
      seed: 4242,
      numRuns: 200,
    });
    const kills: number[] = [];
    let final: ChildResult | undefined;
    for (let life = 0; final === undefined; life++) {
      expect(life, 'the run should finish within 200 worker lives').toBeLessThan(200);
      const w = worker(life === 0 ? 'run' : 'resume', journal);
      const [progress, extraMs] = random[life] ?? [1, 0];
      const before = fake.counters().total;
      // Kill after this worker made `progress` more requests (plus a few ms), unless it finishes first.
      const killer = (async () => {
        while (w.proc.exitCode === null && w.proc.signalCode === null) {
          if (kills.length < 24 && fake.counters().total - before >= progress) {
            await sleep(extraMs);
            if (w.proc.exitCode === null && w.proc.signalCode === null) {
              kills.push(Date.now());
              w.proc.kill('SIGKILL');
            }
            return;
          }
          await sleep(2);
        }
      })();
      const [out] = await Promise.all([w.output, killer]);
      const code = await exited(w.proc);
      if (out !== undefined) {
        expect(code, w.stderr()).toBe(0);
        expect(out).toHaveLength(1);
        final = out[0];
      }
    }

    expect(kills.length).toBeGreaterThanOrEqual(20);
    expect(final.status, final.error).toBe('succeeded');
    expect(final.output).toBe(expected?.output);
    expect(final.agents).toEqual(expected?.agents);
    expect(final.usage.modelCalls).toBe(50);

    // Every repeated prompt was in flight when a worker died: its first copy is the last request
    // that arrived before some kill, and no later request arrived before that kill.
    const requests = fake.requests.filter((r) => r.path.endsWith('/chat/completions'));
    const seen = new Map<string, RecordedRequest>();
    let repeats = 0;
    for (const request of requests) {
      const prompt = promptOf(request);
      const earlier = seen.get(prompt);
      if (earlier) {
        repeats++;
        const killedInFlight = kills.some(
          (k) =>
            earlier.receivedAt <= k &&
            !requests.some((r) => r.seq > earlier.seq && r.receivedAt <= k && r.seq < request.seq),
        );
        expect(killedInFlight, `prompt ${prompt.slice(0, 60)} was sent again after it was journaled`).toBe(
          true,
        );
      }
      seen.set(prompt, request);
    }
    expect(seen.size).toBe(50);
    expect(repeats).toBeLessThanOrEqual(kills.length);
  }, 240_000);

  it('a side-effecting skill killed mid-call runs again with the same idempotency key: one effect', async () => {
    fake.reset();
    fake.enqueueReply({ toolCalls: [{ name: 'Charge', args: { amount: 42 } }] });
    fake.enqueueReply({ text: 'Charged 42.' });
    const journal = join(dir, 'effects.db');
    const effects = join(dir, 'effects.txt');
    const first = worker('effects-run', journal, effects);
    const charged = first.seen('charged');
    await charged;
    first.proc.kill('SIGKILL');
    await exited(first.proc);

    const second = worker('effects-resume', journal, effects);
    const out = await second.output;
    expect(await exited(second.proc), second.stderr()).toBe(0);
    expect(out?.[0]?.status, out?.[0]?.error).toBe('succeeded');
    expect(out?.[0]?.output).toBe('Charged 42.');
    // The tool call ran twice (at least once), its effect happened once; the model call that asked
    // for it was journaled and not sent again.
    const lines = readFileSync(effects, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^run_.+\/Pay\/Cashier\/.+/);
    expect(fake.counters().total).toBe(2);
  }, 60_000);
});
