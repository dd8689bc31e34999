import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `forge ARGS` in a child process (the real binary path, Node 24 type stripping). */
export function forge(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=forge-source', main, ...args],
      { cwd: options.cwd ?? root, env: { PATH: process.env.PATH ?? '', ...options.env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error && typeof error.code === 'number' ? error.code : error ? 1 : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Starts `forge ARGS` and resolves once stdout matches `ready`, with a stop() that sends SIGINT. */
export function forgeServer(args: string[], ready: RegExp) {
  const child = spawn(process.execPath, ['--conditions=forge-source', main, ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '' },
  });
  let out = '';
  const started = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (ready.test(out)) resolve(out);
    });
    child.on('exit', (code) => reject(new Error(`forge exited with ${code} before it was ready: ${out}`)));
  });
  const stop = () =>
    new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.kill('SIGINT');
    });
  return { started, stop, output: () => out };
}
