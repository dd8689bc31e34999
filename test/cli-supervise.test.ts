/**
 * `forge supervise` and `forge worker` as a user runs them: jobs on stdin, results on stdout,
 * worker events on stderr; the runs a dead process left in the journal resumed at start; a
 * worker killed under the command restarted; SIGTERM stops everything, leaving no process.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Harness, SqliteJournal } from 'forge-harness';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.ts';
import { councilHash } from '../src/runtime/harness.ts';
import { root } from './cli-helpers.ts';
import { exited, track } from './processes.ts';

const main = join(root, 'src/cli/main.ts');
const dir = mkdtempSync(join(tmpdir(), 'forge-cli-supervise-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const config = join(dir, 'councils.yaml');
writeFileSync(
  config,
  `models:
  - id: sim
    type: simulated
    latency_ms: 20
councils:
  - name: Pair
    memory: memory://
    agents:
      - { name: A, model: sim }
      - { name: B, model: sim }
`,
);

/** `forge ARGS` in a child process with `stdin` written to it (or kept open when undefined). */
function forge(args: string[], stdin?: string) {
  const child = track(
    spawn(process.execPath, ['--conditions=forge-source', main, ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    for (const l of listeners) l();
  });
  if (stdin !== undefined) child.stdin.end(stdin);
  /** Resolves with the match once stderr matches `re` `times` times. */
  const stderrMatches = (re: RegExp, times = 1) =>
    new Promise<RegExpMatchArray[]>((resolve, reject) => {
      const check = () => {
        const all = [...stderr.matchAll(new RegExp(re.source, 'g'))];
        if (all.length >= times) {
          listeners.delete(check);
          resolve(all);
        }
      };
      listeners.add(check);
      child.once('exit', () => reject(new Error(`forge exited before ${re}: ${stderr}`)));
      check();
    });
  return { child, stdout: () => stdout, stderr: () => stderr, stderrMatches };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** In-process `forge ARGS`: exit code and output. */
async function cli(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    isTty: false,
    env: { PATH: process.env.PATH ?? '' },
    cwd: dir,
  });
  return { code, stdout, stderr };
}

describe('forge supervise / forge worker', () => {
  it('help, usage errors and a bad config are refused before any worker starts', async () => {
    expect((await cli(['supervise', '--help'])).stdout).toContain(
      'forge supervise --config FILE [--workers N]',
    );
    expect((await cli(['worker', '--help'])).stdout).toContain('forge worker --config FILE');
    expect(await cli(['supervise'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('forge supervise: missing --config FILE'),
    });
    expect(await cli(['supervise', '--config', config, '--workers', '0'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--workers "0" is not a whole number ≥ 1'),
    });
    expect(await cli(['worker'])).toMatchObject({ code: 2 });
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      'models:\n  - id: m\n    type: simulated\ncouncils:\n  - name: C\n    agents:\n      - { name: A, model: nope }\n',
    );
    const r = await cli(['supervise', '--config', bad]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^forge: unknown_model: .*bad\.yaml:7/);
    expect(r.stderr).not.toContain('worker 1 started');
    const off = join(dir, 'off.yaml');
    writeFileSync(
      off,
      'journal: false\nmodels:\n  - id: m\n    type: simulated\ncouncils:\n  - name: C\n    agents:\n      - { name: A, model: m }\n',
    );
    expect(await cli(['supervise', '--config', off])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('forge: journal_error:'),
    });
  });

  it('--until-done: resumes what a dead process left, runs the jobs from stdin, prints a line per run', async () => {
    const journal = join(dir, 'until-done.db');
    // A run left `running` in the journal by a process that is gone.
    const harness = await Harness.fromFile(config, { journal: false });
    const j = new SqliteJournal(journal);
    j.createRun({
      runId: 'run_left_behind',
      council: 'Pair',
      input: 'left behind',
      tenant: 'default',
      councilHash: councilHash(harness.council('Pair')),
      options: {},
    });
    j.close();
    await harness.stop();
    const db = new DatabaseSync(journal);
    db.prepare('UPDATE runs SET owner_pid = ? WHERE run_id = ?').run(
      spawnSync(process.execPath, ['-e', '']).pid,
      'run_left_behind',
    );
    db.close();

    const jobs = [
      '{"council":"Pair","input":"first","id":"one"}',
      '{"council":"Pair","input":"second"}',
      '{"council":"Nope","input":"x","id":"three"}',
      'garbage',
    ];
    const f = forge(
      ['supervise', '--config', config, '--journal', journal, '--workers', '1', '--until-done'],
      `${jobs.join('\n')}\n`,
    );
    const code = await exited(f.child);
    const lines = f
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(5);
    expect(lines).toContainEqual(
      expect.objectContaining({
        type: 'rejected',
        line: 4,
        error: expect.objectContaining({ code: 'prompt_invalid' }),
      }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({
        type: 'result',
        runId: 'run_left_behind',
        status: 'succeeded',
        resumed: true,
      }),
    );
    expect(lines).toContainEqual(expect.objectContaining({ type: 'result', id: 'one', status: 'succeeded' }));
    expect(lines).toContainEqual(
      expect.objectContaining({
        type: 'result',
        id: 'three',
        status: 'failed',
        error: expect.objectContaining({ code: 'unknown_council' }),
      }),
    );
    expect(lines.filter((l) => l.type === 'result' && l.status === 'succeeded')).toHaveLength(3);
    // The first job that did not succeed decides the exit code: unknown_council is a config error (3).
    expect(code, f.stderr()).toBe(3);
    expect(f.stderr()).toMatch(/forge supervise: worker 1 ready \(pid \d+\), resuming 1 interrupted run\n/);
    expect(f.stderr()).toMatch(/forge supervise: stopped\n$/);
  }, 60_000);

  it('restarts a worker killed under it, and SIGTERM stops everything with no process left', async () => {
    const journal = join(dir, 'daemon.db');
    const f = forge([
      'supervise',
      '--config',
      config,
      '--journal',
      journal,
      '--workers',
      '1',
      '--backoff-ms',
      '20',
    ]);
    const [first] = await f.stderrMatches(/worker 1 ready \(pid (\d+)\)/);
    const pid1 = Number(first?.[1]);
    process.kill(pid1, 'SIGKILL');
    const readies = await f.stderrMatches(/worker 1 ready \(pid (\d+)\)/, 2);
    const pid2 = Number(readies[1]?.[1]);
    expect(pid2).not.toBe(pid1);
    expect(f.stderr()).toContain(`worker 1 crashed (pid ${pid1}, killed by SIGKILL)`);
    expect(f.stderr()).toContain('worker 1 restarts in 20 ms (restart 1)');
    // A job still runs on the restarted worker.
    f.child.stdin.write('{"council":"Pair","input":"after the crash","id":"late"}\n');
    await new Promise<void>((resolve) => {
      const check = () => (f.stdout().includes('"id":"late"') ? resolve() : setTimeout(check, 10));
      check();
    });
    expect(JSON.parse(f.stdout().trim())).toMatchObject({ type: 'result', id: 'late', status: 'succeeded' });
    f.child.kill('SIGTERM');
    expect(await exited(f.child)).toBe(0);
    expect(f.stderr()).toContain(`worker 1 stopped (pid ${pid2}, exited with code 0)`);
    expect(alive(pid1) || alive(pid2)).toBe(false);
  }, 60_000);
});
