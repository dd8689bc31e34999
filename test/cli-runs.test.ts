/**
 * `forge runs`, `forge resume`, `forge run --resume` and `forge explain` through real child
 * processes of the CLI, on keyless simulated models and SQLite journals in a temp folder. The
 * interrupted run is a real `forge run` killed with SIGKILL once its journal shows a finished step.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type JournalRun, SqliteJournal } from 'forge-harness';
import { afterAll, describe, expect, it } from 'vitest';
import { forge, root } from './cli-helpers.ts';
import { exited, killSpawned, track } from './processes.ts';

const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'forge-cli-runs-'));
afterAll(() => {
  killSpawned();
  rmSync(dir, { recursive: true, force: true });
});
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
/**
 * No default memory file in the repository, whatever a council says; and Node's compile cache,
 * which halves the start-up of each of the CLI processes this file starts.
 */
const baseEnv = { FORGE_MEMORY_URL: 'memory://', NODE_COMPILE_CACHE: join(dir, 'compile-cache') };

// Two agents that each get re-asked once (recursion trigger): decisions, spawns and sub-agents.
// `journal:` is relative to this file, not to the directory forge runs in.
const writers = file(
  'writers.yaml',
  `journal: sqlite://journals/writers.db
models:
  - id: fast
    type: simulated
    price_per_mtok: { input: 1, output: 2 }
councils:
  - name: Writers
    memory: memory://
    recursion:
      max_depth: 2
      trigger_on: ["attempt < 2"]
      fallback: ReAsk
    agents:
      - name: Draft
        model: fast
        instructions: Write a draft.
      - name: Edit
        model: fast
        instructions: Edit the draft.
`,
);
const writersJournal = join(dir, 'journals', 'writers.db');

// Every model call takes 0.7 s: a kill after the first agent lands while the second one waits.
const slow = file(
  'slow.yaml',
  `models:
  - id: slow
    type: simulated
    latency_ms: 700
councils:
  - name: Slow
    memory: memory://
    agents:
      - name: One
        model: slow
      - name: Two
        model: slow
      - name: Three
        model: slow
`,
);
const slowJournal = join(dir, 'slow.db');
const slowEnv = { ...baseEnv, FORGE_JOURNAL_URL: `sqlite://${slowJournal}` };

interface RunsRow {
  runId: string;
  council: string;
  status: string;
  attempts: number;
  input: string;
  durationMs: number | null;
  usage: { inputTokens: number; outputTokens: number; costUsd: number } | null;
}

interface Node {
  name: string;
  status: string;
  model?: string;
  models: Array<{ model: string; calls: number; answered: number }>;
  decisions: Array<{ kind: string; chosen: string; reason: string }>;
  spawns: Array<{ agent: string; depth: number }>;
  replayed: Array<{ attempt: number; keys: string[] }>;
  children: Node[];
  run?: { runId: string; attempts: Array<{ attempt: number; journaledSteps: number; replayed: number }> };
}

let finishedRunId = '';

describe('forge runs / explain on a finished run', () => {
  it('lists the run as succeeded and explains its agents, models and decisions, as JSON and as a tree', {
    timeout: 60_000,
  }, async () => {
    const run = await forge(['run', writers, '--input', 'Write about cats', '--json'], { env: baseEnv });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1) as string) as {
      runId: string;
      status: string;
    };
    expect(result.status).toBe('succeeded');
    finishedRunId = result.runId;
    // journal: sqlite://journals/writers.db, resolved against the config's folder (cwd is the repo).
    expect(existsSync(writersJournal)).toBe(true);

    const [runsJson, runsText, explainJson, explainText] = await Promise.all([
      forge(['runs', '--config', writers, '--json'], { env: baseEnv }),
      forge(['runs', '--config', writers], { env: baseEnv }),
      forge(['explain', result.runId, '--config', writers, '--json'], { env: baseEnv }),
      // Only the journal: no config, no keys.
      forge(['explain', result.runId], {
        env: { ...baseEnv, FORGE_JOURNAL_URL: `sqlite://${writersJournal}` },
      }),
    ]);

    expect(runsJson.code, runsJson.stderr).toBe(0);
    const rows = JSON.parse(runsJson.stdout) as RunsRow[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      runId: result.runId,
      council: 'Writers',
      status: 'succeeded',
      attempts: 1,
    });
    expect(rows[0]?.usage?.inputTokens).toBeGreaterThan(0);
    expect(rows[0]?.usage?.costUsd).toBeGreaterThan(0);
    expect(rows[0]?.durationMs).toBeGreaterThanOrEqual(0);

    expect(runsText.code, runsText.stderr).toBe(0);
    const [header, row] = runsText.stdout.split('\n');
    expect(header).toMatch(/^RUN ID\s+COUNCIL\s+STATUS\s+ATTEMPTS\s+STARTED\s+DURATION\s+TOKENS\s+COST$/);
    expect(row).toMatch(
      new RegExp(
        `^${result.runId}\\s+Writers\\s+succeeded\\s+1\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d`,
      ),
    );
    expect(row).toMatch(/\$0\.\d{6}$/);

    expect(explainJson.code, explainJson.stderr).toBe(0);
    const tree = JSON.parse(explainJson.stdout) as Node;
    expect(tree).toMatchObject({ name: 'Writers', status: 'succeeded', run: { runId: result.runId } });
    expect(tree.children.map((c) => c.name)).toEqual(['Draft', 'Edit']);
    for (const agent of tree.children) {
      expect(agent.status).toBe('succeeded');
      expect(agent.models).toEqual([expect.objectContaining({ model: 'fast', calls: 1, answered: 1 })]);
      expect(agent.decisions).toEqual([
        expect.objectContaining({
          kind: 'trigger',
          chosen: 'ReAsk',
          reason: 'trigger "attempt < 2" fired (attempt=1)',
        }),
      ]);
      expect(agent.spawns).toEqual([expect.objectContaining({ agent: `${agent.name}#2`, depth: 1 })]);
      expect(agent.children.map((c) => [c.name, c.status, c.models[0]?.model])).toEqual([
        [`${agent.name}#2`, 'succeeded', 'fast'],
      ]);
    }

    expect(explainText.code, explainText.stderr).toBe(0);
    const text = explainText.stdout;
    expect(text).not.toContain('\x1b[');
    expect(text.split('\n')[0]).toMatch(new RegExp(`^▶ Writers ${result.runId} succeeded · `));
    expect(text).toContain('├─ ● Draft succeeded on fast\n│  ├─ model fast (simulated');
    expect(text).toContain(
      '│  ├─ ◆ trigger: ReAsk — trigger "attempt < 2" fired (attempt=1)\n│  ├─ ⑂ spawned Draft#2 at depth 1\n',
    );
    expect(text).toContain('│  └─ ● Draft#2 succeeded on fast\n');
    expect(text).toContain('└─ ● Edit succeeded on fast\n');
    expect(text).toContain('   └─ ● Edit#2 succeeded on fast\n');
  });
});

/** Waits (polling the journal the child writes) until `done` holds for a run with this input. */
async function untilJournal(input: string, done: (journal: SqliteJournal, run: JournalRun) => boolean) {
  const deadline = Date.now() + 30_000;
  while (!existsSync(slowJournal)) {
    if (Date.now() > deadline) throw new Error(`${slowJournal} never appeared`);
    await sleep(25);
  }
  const journal = new SqliteJournal(slowJournal);
  try {
    while (Date.now() < deadline) {
      const run = journal.listRuns().find((r) => r.input === input);
      if (run && done(journal, run)) return run;
      await sleep(25);
    }
    throw new Error(`the run "${input}" never got there`);
  } finally {
    journal.close();
  }
}

/** `forge run` on the slow council, SIGKILLed once its first agent's step is journaled. */
async function interruptedRun(input: string): Promise<JournalRun> {
  const child = track(
    spawn(process.execPath, ['--conditions=forge-source', main, 'run', slow, '--input', input], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', ...slowEnv },
      stdio: 'ignore',
    }),
  );
  const run = await untilJournal(input, (journal, r) => journal.step(r.runId, 'Slow/One') !== undefined);
  expect(child.exitCode, 'the run finished before it could be killed').toBeNull();
  child.kill('SIGKILL');
  await exited(child);
  return run;
}

describe('interrupted runs', () => {
  it('shows a killed run as interrupted, resumes it with replayed steps, and run --resume finishes the rest', {
    timeout: 90_000,
  }, async () => {
    const [a, b] = await Promise.all([interruptedRun('count A'), interruptedRun('count B')]);

    const listed = await forge(['runs', '--json'], { env: slowEnv });
    expect(listed.code, listed.stderr).toBe(0);
    const rows = JSON.parse(listed.stdout) as RunsRow[];
    expect(rows.map((r) => [r.runId, r.status, r.attempts, r.usage]).sort()).toEqual(
      [
        [a.runId, 'interrupted', 1, null],
        [b.runId, 'interrupted', 1, null],
      ].sort(),
    );
    const onlyInterrupted = await forge(
      ['runs', '--status', 'interrupted', '--council', 'Slow', '--limit', '1'],
      {
        env: slowEnv,
      },
    );
    expect(onlyInterrupted.stdout.trim().split('\n')).toHaveLength(2);
    expect(onlyInterrupted.stdout).toMatch(/Slow\s+interrupted\s+1\s/);

    const resumed = await forge(['resume', a.runId, '--config', slow], { env: slowEnv });
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`▶ Slow ${a.runId}`);
    expect(resumed.stdout).toContain('↻ resumed from the journal (attempt 2,');
    expect(resumed.stdout).toContain('⟲ replayed Slow/One');
    expect(resumed.stdout).toContain('● Three on slow');
    expect(resumed.stdout).toMatch(/\nResult\n/);

    const [explained, explainedText] = await Promise.all([
      forge(['explain', a.runId, '--json'], { env: slowEnv }),
      forge(['explain', a.runId], { env: slowEnv }),
    ]);
    expect(explained.code, explained.stderr).toBe(0);
    const tree = JSON.parse(explained.stdout) as Node;
    expect(tree.status).toBe('succeeded');
    expect(tree.run?.attempts.map((x) => x.attempt)).toEqual([1, 2]);
    expect(tree.run?.attempts[1]?.replayed).toBeGreaterThan(0);
    expect(tree.children.map((c) => [c.name, c.status])).toEqual([
      ['One', 'succeeded'],
      ['Two', 'succeeded'],
      ['Three', 'succeeded'],
    ]);
    const one = tree.children[0] as Node;
    expect(one.replayed).toEqual([{ attempt: 2, keys: ['Slow/One'] }]);
    // One's model was called once, in attempt 1: the resume replayed its step.
    expect(one.models).toEqual([expect.objectContaining({ model: 'slow', calls: 1, answered: 1 })]);
    expect(explainedText.stdout).toContain('↻ attempt 2: resumed with');
    expect(explainedText.stdout).toContain('├─ ⟲ attempt 2 replayed 1 journaled step: Slow/One');

    const resumeAll = await forge(['run', '--resume', slow], { env: slowEnv });
    expect(resumeAll.stderr).toBe('');
    expect(resumeAll.code).toBe(0);
    expect(resumeAll.stdout).toContain(`resuming 1 interrupted run from ${slowJournal}\n`);
    expect(resumeAll.stdout).toMatch(new RegExp(`✓ ${b.runId} Slow succeeded attempt 2 · 1 step replayed`));
    expect(resumeAll.stdout).toContain('resumed 1 run: 1 succeeded, 0 did not\n');

    const [nothing, after] = await Promise.all([
      forge(['run', '--resume', '--config', slow], { env: slowEnv }),
      forge(['runs', '--json'], { env: slowEnv }),
    ]);
    expect(nothing.code, nothing.stderr).toBe(0);
    expect(nothing.stdout).toBe(`nothing to resume: no interrupted runs in ${slowJournal}\n`);
    expect((JSON.parse(after.stdout) as RunsRow[]).map((r) => [r.status, r.attempts])).toEqual([
      ['succeeded', 2],
      ['succeeded', 2],
    ]);
  });
});

describe('errors', () => {
  it('unknown run, finished run, bad --status, a file that is not a journal, a bad journal: key', {
    timeout: 60_000,
  }, async () => {
    expect(finishedRunId).not.toBe('');
    const notSqlite = file('notes.txt', 'these are my notes, not a journal\n');
    const foreign = join(dir, 'foreign.db');
    const db = new DatabaseSync(foreign);
    db.exec('CREATE TABLE things (id INTEGER)');
    db.close();
    const missing = join(dir, 'missing', 'journal.db');
    const badKey = file('bad-journal.yaml', 'journal: journal.db\nmodels:\n  - id: m\n    type: simulated\n');

    const [unknownExplain, unknownResume, finished, badStatus, notJournal, foreignDb, nowhere, badConfig] =
      await Promise.all([
        forge(['explain', 'run_nope', '--journal', writersJournal], { env: baseEnv }),
        forge(['resume', 'run_nope', '--config', writers], { env: baseEnv }),
        forge(['resume', finishedRunId, '--config', writers], { env: baseEnv }),
        forge(['runs', '--status', 'done', '--journal', writersJournal], { env: baseEnv }),
        forge(['runs', '--journal', notSqlite], { env: baseEnv }),
        forge(['explain', 'run_x', '--journal', `sqlite://${foreign}`], { env: baseEnv }),
        forge(['runs', '--journal', missing], { env: baseEnv }),
        forge(['validate', badKey], { env: baseEnv }),
      ]);

    expect(unknownExplain.code).toBe(2);
    expect(unknownExplain.stderr).toContain(
      `forge: unknown_run: no run run_nope in the journal at ${writersJournal}`,
    );
    expect(unknownExplain.stderr).toContain(
      `hint: looked in ${writersJournal} (from --journal); list its runs with`,
    );
    expect(unknownResume.code).toBe(2);
    expect(unknownResume.stderr).toContain(`unknown_run: no run run_nope`);
    expect(unknownResume.stderr).toContain(`(from journal: in ${writers})`);

    expect(finished.code).toBe(2);
    expect(finished.stderr).toContain(
      `forge: resume_invalid: run ${finishedRunId} already ended (succeeded)`,
    );
    expect(finished.stderr).toContain(
      `hint: only interrupted runs can be resumed; forge explain ${finishedRunId}`,
    );

    expect(badStatus.code).toBe(2);
    expect(badStatus.stderr).toContain('forge: cli_usage: forge runs: --status "done" is not a run status');
    expect(badStatus.stderr).toContain(
      'hint: --status takes one of: running, interrupted, succeeded, failed, aborted, limit_exceeded',
    );

    expect(notJournal.code).toBe(1);
    expect(notJournal.stderr).toContain(
      `forge: journal_error: ${notSqlite} (--journal) is not a forge run journal: it cannot be read as an SQLite database`,
    );
    expect(foreignDb.code).toBe(1);
    expect(foreignDb.stderr).toContain(
      `${foreign} (--journal) is not a forge run journal: it is an SQLite database without the journal's runs, steps, events table(s)`,
    );
    // Read-only: the other database did not get the journal's tables.
    const check = new DatabaseSync(foreign, { readOnly: true });
    expect(check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()).toEqual([
      { name: 'things' },
    ]);
    check.close();

    expect(nowhere.code).toBe(0);
    expect(nowhere.stdout).toBe(`no runs in ${missing} (the file does not exist yet)\n`);
    expect(existsSync(missing)).toBe(false);

    expect(badConfig.code).toBe(3);
    expect(badConfig.stderr).toContain(`${badKey}:1:10 (journal): journal must be "sqlite://path" or false`);
  });

  it('has --help for each new verb', async () => {
    const helps = await Promise.all(
      ['runs', 'resume', 'explain'].map((verb) => forge([verb, '--help'], { env: baseEnv })),
    );
    expect(helps.map((h) => [h.code, h.stdout.split('\n')[0]?.split(' ').slice(0, 2).join(' ')])).toEqual([
      [0, 'forge runs'],
      [0, 'forge resume'],
      [0, 'forge explain'],
    ]);
  });
});
