#!/usr/bin/env node
/**
 * The `forge` command. Each verb is a thin wrapper over the library; errors print as one
 * located line with a hint (a stack trace only with --debug) and map to documented exit codes.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HarnessError, toHarnessError } from '../errors.ts';
import { commands, usage } from './commands.ts';
import { exitCodeFor, exitCodes } from './exit-codes.ts';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  isTty: boolean;
  env: Record<string, string | undefined>;
  cwd: string;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function runCli(argv: string[], io: CliIo, signal?: AbortSignal): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  const [verb, ...rest] = args;
  try {
    if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
      io.stdout(usage());
      return verb === undefined ? exitCodes.usage : exitCodes.ok;
    }
    if (verb === '--version' || verb === '-v') {
      io.stdout(`${await version()}\n`);
      return exitCodes.ok;
    }
    const command = commands[verb];
    if (!command) {
      throw new HarnessError('cli_usage', `unknown command "${verb}"`, {
        hint: `commands: ${Object.keys(commands).join(', ')} (forge --help)`,
      });
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout(command.help);
      return exitCodes.ok;
    }
    return await command.run(rest, io, signal ?? new AbortController().signal);
  } catch (error) {
    const e = toHarnessError(error);
    io.stderr(`forge: ${e.code}: ${e.format()}\n`);
    if (debug && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
    return exitCodeFor(e.code);
  }
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function isMain(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

/** Runs `forge` as a process: stdio, Ctrl-C as abort, EPIPE-safe stdout, exit code. */
export async function runMain(): Promise<void> {
  // `forge run --json | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
  const controller = new AbortController();
  let interrupts = 0;
  process.on('SIGINT', () => {
    interrupts++;
    if (interrupts > 1) process.exit(exitCodes.aborted);
    controller.abort(new Error('interrupted (Ctrl-C)'));
  });
  const code = await runCli(
    process.argv.slice(2),
    {
      stdout: (t) => process.stdout.write(t),
      stderr: (t) => process.stderr.write(t),
      isTty: Boolean(process.stdout.isTTY),
      env: process.env,
      cwd: process.cwd(),
    },
    controller.signal,
  );
  process.exitCode = code;
}

if (isMain()) await runMain();
