// MCP servers as skills, against a real MCP server process (test/fixtures/skills/mcp-calc-server.ts)
// over stdio and over streamable HTTP: an agent in a council calls its tools, the server is killed
// and restarted between two tool calls of the same run, and the skill reconnects.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  Agent,
  type AnySkill,
  Council,
  Harness,
  HarnessError,
  type McpSkillSource,
  mcpServer,
  type RunEvent,
  registerProviderType,
  Skill,
} from 'forge-harness';
import { ScriptedModel, type ScriptStep } from 'forge-harness/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { exited, freePort, killSpawned, lines, spawnNode } from './processes.ts';

const serverScript = fileURLToPath(new URL('./fixtures/skills/mcp-calc-server.ts', import.meta.url));

let scripted = new ScriptedModel({ steps: [{ text: 'unused' }] });
registerProviderType('scripted-mcp', { create: () => scripted });

afterAll(killSpawned);

const call = (toolName: string, input: unknown): ScriptStep => ({ toolCalls: [{ toolName, input }] });

/** A harness whose one agent uses `skills` (names or instances) and a scripted model playing `steps`. */
function harnessWith(
  sources: McpSkillSource[],
  skills: Array<string | AnySkill>,
  steps: ScriptStep[],
): Harness {
  scripted = new ScriptedModel({ steps });
  return new Harness({
    models: [{ id: 'm', type: 'scripted-mcp' }],
    memory: 'memory://',
    skills: sources,
    councils: [
      new Council({
        name: 'Ops',
        agents: [new Agent({ name: 'Calc', model: 'm', skills, maxSteps: steps.length + 1 })],
      }),
    ],
  });
}

/** Polls `check` every 10 ms until it holds, failing after `ms`. */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function toolOutputs(events: RunEvent[], tool: string): unknown[] {
  return events.flatMap((e) => (e.type === 'tool-call-finish' && e.tool === tool ? [e.output] : []));
}

function pidOf(output: unknown): number {
  const match = /pid=(\d+)$/.exec(String(output));
  if (!match?.[1]) throw new Error(`no pid in ${String(output)}`);
  return Number(match[1]);
}

describe('an MCP server over stdio', () => {
  it('is a set of skills; killed mid-run it is restarted on the next call and the run succeeds', async () => {
    const calc = mcpServer({ name: 'calc', command: process.execPath, args: [serverScript] });
    const events: RunEvent[] = [];
    // Kills the server process between two tool calls, and waits until the harness has seen it go.
    const killServer = new Skill({
      name: 'KillServer',
      description: 'Kills the calc server.',
      input: z.object({}),
      run: async () => {
        const pid = pidOf(toolOutputs(events, 'calc_add').at(-1));
        process.kill(pid, 'SIGKILL');
        await until(() => !calc.connected, 'the stdio server to be seen as gone');
        return `killed ${pid}`;
      },
    });
    const harness = harnessWith(
      [calc],
      ['calc_add', 'calc_fail', 'calc_read_file', killServer],
      [
        call('calc_add', { a: 2, b: 3 }),
        call('KillServer', {}),
        call('calc_add', { a: 4, b: 5 }),
        call('calc_fail', {}),
        call('calc_read_file', { path: 'notes.txt' }),
        { text: 'done' },
      ],
    );
    const result = await harness.run('Ops', 'add things', { onEvent: (e) => events.push(e) });
    expect(result.error?.format()).toBeUndefined();
    expect(result.output).toBe('done');

    const sums = toolOutputs(events, 'calc_add');
    expect(sums).toEqual([
      expect.stringMatching(/^sum=5 pid=\d+$/),
      expect.stringMatching(/^sum=9 pid=\d+$/),
    ]);
    // The second answer came from a new server process.
    expect(pidOf(sums[1])).not.toBe(pidOf(sums[0]));
    expect(calc.connects).toBe(2);
    // A tool's isError result is a tool error the model sees; the run went on.
    expect(events.find((e) => e.type === 'tool-call-error')).toMatchObject({
      tool: 'calc_fail',
      error: { code: 'skill_failed', message: expect.stringContaining('the disk is full') },
    });
    // A tool name the pattern refuses (read.file) is sanitised.
    expect(toolOutputs(events, 'calc_read_file')).toEqual(['contents of notes.txt']);

    await harness.stop();
    expect(calc.connected).toBe(false);
    // stop() closed the server: the restarted process is gone.
    expect(() => process.kill(pidOf(sums[1]), 0)).toThrow();
  });
});

describe('an MCP server over streamable HTTP', () => {
  it('reconnects after the server restarts: a lost session (404) and a refused connection', async () => {
    const port = await freePort();
    let server: ChildProcess | undefined;
    const start = async (wait: boolean) => {
      server = spawnNode(serverScript, ['--http', String(port)]);
      if (wait) {
        const line = await lines(server).next();
        expect(line.value).toBe(`listening ${port}`);
      }
    };
    await start(true);
    const web = mcpServer({ name: 'web', url: `http://127.0.0.1:${port}/mcp`, connectTimeoutMs: 15_000 });
    // Kills the server and starts a new one on the same port: waiting until it listens (the old
    // session is unknown to it), or not (the next call finds nothing listening and retries).
    const restart = new Skill({
      name: 'RestartServer',
      description: 'Restarts the web server.',
      input: z.object({ wait: z.boolean() }),
      run: async ({ wait }) => {
        const old = server as ChildProcess;
        old.kill('SIGKILL');
        await exited(old);
        await start(wait);
        return 'restarted';
      },
    });
    const events: RunEvent[] = [];
    const harness = harnessWith(
      [web],
      ['web_add', restart],
      [
        call('web_add', { a: 2, b: 3 }),
        call('RestartServer', { wait: true }),
        call('web_add', { a: 4, b: 5 }),
        call('RestartServer', { wait: false }),
        call('web_add', { a: 6, b: 7 }),
        { text: 'all added' },
      ],
    );
    const result = await harness.run('Ops', 'add things', { onEvent: (e) => events.push(e) });
    expect(result.error?.format()).toBeUndefined();
    expect(result.output).toBe('all added');
    const sums = toolOutputs(events, 'web_add');
    expect(sums.map((s) => String(s).split(' ')[0])).toEqual(['sum=5', 'sum=9', 'sum=13']);
    expect(new Set(sums.map(pidOf)).size).toBe(3);
    expect(web.connects).toBe(3);
    expect(events.some((e) => e.type === 'tool-call-error')).toBe(false);
    await harness.stop();
  });
});

describe('an MCP server that never starts', () => {
  it('a missing program: mcp_error naming the server and the command, and the harness lives on', async () => {
    const ghost = mcpServer({ name: 'ghost', command: '/nonexistent/mcp-ghost-server', args: ['--serve'] });
    const error = await ghost.load().catch((e: unknown) => e);
    expect(HarnessError.isInstance(error) && error.code).toBe('mcp_error');
    expect((error as HarnessError).message).toContain('"ghost"');
    expect((error as HarnessError).message).toContain('/nonexistent/mcp-ghost-server --serve');
    expect((error as HarnessError).hint).toContain('runs on its own');

    const harness = harnessWith([ghost], ['ghost_anything'], [{ text: 'unused' }]);
    const started = await harness.start().catch((e: unknown) => e);
    expect(HarnessError.isInstance(started) && started.code).toBe('mcp_error');
    const result = await harness.run('Ops', 'hello');
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('mcp_error');
    await harness.stop();
  });

  it('a server that exits at once: mcp_error with the tail of its stderr, without waiting out the timeout', async () => {
    const quitter = mcpServer({
      name: 'quitter',
      command: process.execPath,
      args: [serverScript, '--exit-at-once'],
      connectTimeoutMs: 20_000,
    });
    const started = Date.now();
    const error = (await quitter.load().catch((e: unknown) => e)) as HarnessError;
    expect(error.code).toBe('mcp_error');
    expect(error.message).toContain('--exit-at-once');
    expect(error.message).toContain('boom: cannot open database /var/lib/calc.db');
    expect(error.details.stderr).toContain('boom');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('nothing listening at the URL: mcp_error naming the URL after retrying within connectTimeoutMs', async () => {
    const url = `http://127.0.0.1:${await freePort()}/mcp`;
    const nobody = mcpServer({ name: 'nobody', url, connectTimeoutMs: 600 });
    const error = (await nobody.load().catch((e: unknown) => e)) as HarnessError;
    expect(error.code).toBe('mcp_error');
    expect(error.message).toContain(url);
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.isRetryable).toBe(true);
    expect(error.details.attempts).toBeGreaterThan(1);
  });

  it('bad options are config_invalid with the option named', () => {
    expect(() => mcpServer({ name: 'x' })).toThrow(expect.objectContaining({ code: 'config_invalid' }));
    expect(() => mcpServer({ name: 'x', command: 'node', url: 'http://h/mcp' })).toThrow(
      /exactly one of command/,
    );
    expect(() => mcpServer({ name: '9lives', command: 'node' })).toThrow(
      expect.objectContaining({ location: { path: 'mcpServer.name' } }),
    );
    expect(() => mcpServer({ name: 'x', url: 'ftp://h/mcp' })).toThrow(
      expect.objectContaining({ location: { path: 'mcpServer("x").url' } }),
    );
    expect(() => mcpServer({ name: 'x', command: 'node', connectTimeoutMs: 0 })).toThrow(
      expect.objectContaining({ location: { path: 'mcpServer("x").connectTimeoutMs' } }),
    );
  });
});
