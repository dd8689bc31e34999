import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { forge, forgeServer, root } from './cli-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'forge-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('forge CLI', () => {
  it('demo runs the CustomerSupport council keyless and prints its work and result', async () => {
    const r = await forge(['demo'], { env: { FORGE_DEMO_MEMORY: 'memory://' } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('▶ CustomerSupport');
    expect(r.stdout).toContain('NLU(');
    expect(r.stdout).toContain('Search(');
    expect(r.stdout).toContain('Refunds are issued');
    expect(r.stdout).toMatch(/Result\n/);
  });

  it('run --json prints one JSON event per line and a final result line', async () => {
    const r = await forge(
      ['run', 'examples/customer-support.yaml', '--input', 'Where is my order 12345?', '--json'],
      {
        env: { FORGE_MEMORY_URL: 'memory://' },
      },
    );
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; runId: string; status?: string });
    expect(lines[0]?.type).toBe('run-start');
    expect(lines.at(-1)).toMatchObject({ type: 'result', status: 'succeeded' });
    expect(new Set(lines.map((l) => l.runId)).size).toBe(1);
  });

  it('run reads --input @file', async () => {
    const input = file('input.txt', 'I need a refund for order 77777');
    const r = await forge(
      ['run', 'examples/customer-support.yaml', '--council', 'CustomerSupport', '--input', `@${input}`],
      {
        env: { FORGE_MEMORY_URL: 'memory://' },
      },
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('order_id=77777');
  });

  it('validate reports a located error with a did-you-mean, exit 3, no stack trace', async () => {
    const bad = file(
      'bad.yaml',
      'models:\n  - id: m\n    type: simulated\ncouncils:\n  - name: C\n    agents:\n      - name: A\n        modle: m\n',
    );
    const r = await forge(['validate', bad]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`${bad}:8:9`);
    expect(r.stderr).toContain('did you mean "model"');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const debug = await forge(['validate', bad, '--debug']);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  it('validate reports YAML syntax errors with line and column', async () => {
    const bad = file('syntax.yaml', 'councils:\n  - name: C\n    agents: [\n');
    const r = await forge(['validate', bad]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('config_yaml_syntax');
    expect(r.stderr).toMatch(new RegExp(`${bad}:\\d+:\\d+`));
  });

  it('validate says ok for the examples and notes missing keys without failing', async () => {
    const r = await forge(['validate', 'examples/models.yaml']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ok: examples/models.yaml: 6 models');
    expect(r.stdout).toContain('needs env:OPENAI_API_KEY (missing)');
  });

  it('models lists the registry without printing key values', async () => {
    const r = await forge(['models', 'examples/models.yaml'], {
      env: { OPENAI_API_KEY: 'sk-secret-value-123' },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/gpt-4o\s+openai/);
    expect(r.stdout).toContain('env:OPENAI_API_KEY (ok)');
    expect(r.stdout).not.toContain('sk-secret-value-123');
    const json = await forge(['models', 'examples/models.yaml', '--json']);
    expect(JSON.parse(json.stdout)).toHaveLength(6);
  });

  it('bad usage exits 2 and names the flag', async () => {
    const r = await forge(['run', 'examples/customer-support.yaml', '--inptu', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--inptu');
    expect((await forge(['frobnicate'])).code).toBe(2);
    expect((await forge(['run', 'examples/customer-support.yaml'])).stderr).toContain('missing --input');
  });

  it('a missing key exits 4 and names the variable', async () => {
    const cfg = file(
      'openai.yaml',
      'models:\n  - id: gpt-4o\n    type: openai\n    api_key: env:FORGE_CLI_TEST_KEY\ncouncils:\n  - name: C\n    memory: memory://\n    agents:\n      - { name: A, model: gpt-4o }\n',
    );
    const r = await forge(['run', cfg, '--input', 'hi']);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('FORGE_CLI_TEST_KEY');
  });

  it('every verb has --help', async () => {
    for (const verb of ['demo', 'run', 'validate', 'models', 'fake-provider', 'schema']) {
      const r = await forge([verb, '--help']);
      expect(r.code, verb).toBe(0);
      expect(r.stdout, verb).toContain(`forge ${verb}`);
    }
  });

  it('fake-provider serves the wire formats and a control API; run drives a council through it', async () => {
    const server = forgeServer(['fake-provider', '--port', '0'], /http:\/\/127\.0\.0\.1:\d+/);
    const banner = await server.started;
    const url = /http:\/\/127\.0\.0\.1:\d+/.exec(banner)![0];
    try {
      const faulted = await fetch(`${url}/_control/faults`, {
        method: 'POST',
        // One failure plus the two retries: then the chain falls back.
        body: JSON.stringify({ status: 500, times: 3 }),
      });
      expect(faulted.status).toBeLessThan(300);
      await fetch(`${url}/_control/replies`, {
        method: 'POST',
        body: JSON.stringify({ text: 'Refund approved.' }),
      });
      const cfg = file(
        'remote.yaml',
        'models:\n  - id: gpt-4o\n    type: openai\n    api: chat\n    api_key: env:OPENAI_API_KEY\n  - id: backup\n    type: anthropic\n    api_key: env:ANTHROPIC_API_KEY\ncouncils:\n  - name: C\n    memory: memory://\n    agents:\n      - { name: A, model: gpt-4o, fallback: [backup] }\n',
      );
      const r = await forge(
        [
          'run',
          cfg,
          '--input',
          'refund please',
          '--model-endpoint',
          `gpt-4o=${url}/v1`,
          '--model-endpoint',
          `backup=${url}/v1`,
        ],
        { env: { OPENAI_API_KEY: 'sk-test-1', ANTHROPIC_API_KEY: 'sk-ant-test-1' } },
      );
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('falling back from gpt-4o to backup');
      expect(r.stdout).toContain('Refund approved.');
      const counters = (await (await fetch(`${url}/_control/counters`)).json()) as { total: number };
      expect(counters.total).toBe(4);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});

describe('forge CLI output edge cases', () => {
  it('validate --json prints a JSON verdict for a bad file too', async () => {
    const bad = file('bad-json.yaml', 'councils:\n  - name: C\n    agents: []\n');
    const r = await forge(['validate', bad, '--json']);
    expect(r.code).toBe(3);
    const verdict = JSON.parse(r.stdout) as {
      ok: boolean;
      error: { code: string; location: { line: number } };
    };
    expect(verdict).toMatchObject({ ok: false, error: { code: 'config_invalid', location: { line: 3 } } });
  });

  it('a reader closing the pipe early (| head) is not an error', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(
      process.execPath,
      ['--conditions=forge-source', 'src/cli/main.ts', 'demo', '--json'],
      {
        cwd: root,
        env: { PATH: process.env.PATH ?? '', FORGE_DEMO_MEMORY: 'memory://' },
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(0);
  });
});

describe('the installed binary entry', () => {
  it('src/cli/bin.ts runs the CLI on Node 24', async () => {
    const { execFile } = await import('node:child_process');
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--conditions=forge-source', 'src/cli/bin.ts', '--version'],
        { cwd: root },
        (e, stdout) => (e ? reject(e) : resolve(stdout)),
      ),
    );
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
