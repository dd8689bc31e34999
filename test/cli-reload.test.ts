/**
 * Hot swap from the command line: `forge worker` reloads its config on SIGHUP — validated
 * first; a bad config is refused and the old one keeps serving.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exited, killSpawned, lines, track } from './processes.ts';

const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'forge-cli-reload-'));
});
afterAll(() => {
  killSpawned();
  rmSync(dir, { recursive: true, force: true });
});

const config = (model: string) => `
models:
  - id: alpha
    type: simulated
    rules: [{ when: ".", reply: "alpha says: {{input}}" }]
  - id: beta
    type: simulated
    rules: [{ when: ".", reply: "beta says: {{input}}" }]
councils:
  - name: Support
    memory: "memory://"
    agents: [{ name: Answerer, model: ${model} }]
`;

describe('forge worker and SIGHUP', () => {
  it('reloads the config on SIGHUP and refuses a bad one, serving the old', async () => {
    const file = join(dir, 'councils.yaml');
    writeFileSync(file, config('alpha'));
    const proc = track(
      spawn(
        process.execPath,
        [
          '--conditions=forge-source',
          main,
          'worker',
          '--config',
          file,
          '--journal',
          `sqlite://${join(dir, 'j.db')}`,
        ],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      ),
    );
    let stderr = '';
    const stderrWaiters: Array<{ text: string; resolve: () => void }> = [];
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      for (const w of stderrWaiters) if (stderr.includes(w.text)) w.resolve();
    });
    const stderrSays = (text: string) =>
      new Promise<void>((resolve) => {
        if (stderr.includes(text)) resolve();
        else stderrWaiters.push({ text, resolve });
      });
    const out = lines(proc);
    const next = async (type: string) => {
      for (;;) {
        const line = await out.next();
        if (line.done) throw new Error(`worker ended before a ${type} line: ${stderr}`);
        const message = JSON.parse(line.value) as { type: string; output?: string };
        if (message.type === type) return message;
      }
    };
    await next('ready');
    const ask = async (input: string) => {
      proc.stdin?.write(`${JSON.stringify({ council: 'Support', input })}\n`);
      return (await next('result')).output;
    };
    expect(await ask('one')).toBe('alpha says: one');

    writeFileSync(file, config('beta'));
    proc.kill('SIGHUP');
    await stderrSays('config reloaded');
    expect(await ask('two')).toBe('beta says: two');

    writeFileSync(file, config('gamma'));
    proc.kill('SIGHUP');
    await stderrSays('config reload refused');
    expect(stderr).toContain('unknown model "gamma"');
    expect(await ask('three')).toBe('beta says: three');

    proc.stdin?.end();
    expect(await exited(proc), stderr).toBe(0);
  }, 60_000);
});
