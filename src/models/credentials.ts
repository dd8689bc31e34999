/**
 * Credential references. A model entry never holds a key directly in a committed file:
 * it says `env:OPENAI_API_KEY`, `file:/run/secrets/openai` or `cmd:vault kv get -field=key openai`,
 * and the value is read when the model is first used (and re-read by the gateway's secret store
 * when the provider refuses it, see `src/gateway/secrets.ts`). Every value read is registered with
 * the {@link Redactor} so it cannot leak into logs, events or errors.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { HarnessError } from '../errors.ts';

/** How long a `cmd:` reference may run before it counts as failed, ms. */
export const defaultCommandTimeoutMs = 10_000;

/** Replaces known secret values in any text with `***`. */
export class Redactor {
  readonly #secrets = new Set<string>();

  /** Registers a secret value; values shorter than 4 characters are ignored (they would redact ordinary text). */
  add(secret: string): void {
    if (secret.length >= 4) this.#secrets.add(secret);
  }

  /** The text with every registered secret replaced by `***`. */
  redact(text: string): string {
    let out = text;
    for (const secret of this.#secrets) {
      if (out.includes(secret)) out = out.split(secret).join('***');
    }
    return out;
  }

  get size(): number {
    return this.#secrets.size;
  }
}

export interface ResolveCredentialOptions {
  /** Environment to read `env:` references from (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** What needs the credential, for error messages, e.g. `model "gpt-4o" (models[0].api_key)`. */
  owner: string;
  redactor?: Redactor;
  /** `cmd:` references: how long the command may run, ms (default {@link defaultCommandTimeoutMs}). */
  commandTimeoutMs?: number;
}

/**
 * Resolves `env:NAME`, `file:/path`, `cmd:program args...` or a literal value. A missing variable,
 * unreadable file or failing command is a `missing_credential` error naming the variable, path or
 * program, never the value. `cmd:` runs the program directly (its arguments split like a shell
 * would, quotes included, but with no shell: no expansion, no pipes, no injection) and its trimmed
 * stdout is the key.
 */
export function resolveCredential(ref: string, options: ResolveCredentialOptions): string {
  const env = options.env ?? process.env;
  let value: string;
  if (ref.startsWith('env:')) {
    const name = ref.slice(4);
    const found = env[name];
    if (found === undefined || found === '') {
      throw new HarnessError(
        'missing_credential',
        `${options.owner} needs the environment variable ${name}, which is not set`,
        {
          hint: `export ${name}=... (or point api_key at file:/path/to/secret)`,
          details: { variable: name },
        },
      );
    }
    value = found;
  } else if (ref.startsWith('file:')) {
    const path = ref.slice(5);
    try {
      value = readFileSync(path, 'utf8').trim();
    } catch (cause) {
      throw new HarnessError(
        'missing_credential',
        `${options.owner} reads its key from ${path}, which cannot be read`,
        {
          cause: (cause as NodeJS.ErrnoException).code,
          hint: 'check that the secret file is mounted and readable',
          details: { file: path },
        },
      );
    }
    if (value === '') {
      throw new HarnessError(
        'missing_credential',
        `${options.owner} reads its key from ${path}, which is empty`,
        {
          hint: 'write the key into the file',
          details: { file: path },
        },
      );
    }
  } else if (ref.startsWith('cmd:')) {
    const argv = commandArgv(ref, options.owner);
    const timeoutMs = options.commandTimeoutMs ?? defaultCommandTimeoutMs;
    try {
      value = execFileSync(argv[0] as string, argv.slice(1), {
        encoding: 'utf8',
        timeout: timeoutMs,
        stdio: ['ignore', 'pipe', 'ignore'],
        maxBuffer: 64 * 1024,
      }).trim();
    } catch (cause) {
      throw commandFailed(ref, argv, options.owner, cause, timeoutMs);
    }
    if (value === '') throw commandEmpty(ref, argv, options.owner);
  } else {
    value = ref;
  }
  options.redactor?.add(value);
  return value;
}

/** The program and arguments of a `cmd:` reference; an empty one is `config_invalid`. */
export function commandArgv(ref: string, owner: string): string[] {
  const argv = splitCommand(ref.slice(4));
  if (argv.length === 0) {
    throw new HarnessError('config_invalid', `${owner} has an empty cmd: reference`, {
      hint: 'write the command after cmd:, e.g. cmd:vault kv get -field=key secret/openai',
    });
  }
  return argv;
}

/** The error of a `cmd:` reference that failed: the program and how it ended, never its output. */
export function commandFailed(
  ref: string,
  argv: readonly string[],
  owner: string,
  cause: unknown,
  timeoutMs: number,
): HarnessError {
  const e = cause as NodeJS.ErrnoException & { status?: number | null; signal?: string | null };
  const how =
    e.code === 'ENOENT'
      ? 'could not be started (not found)'
      : e.code === 'ETIMEDOUT' || e.signal === 'SIGTERM'
        ? `did not finish within ${timeoutMs} ms`
        : typeof e.status === 'number'
          ? `exited with code ${e.status}`
          : e.signal
            ? `was killed by ${e.signal}`
            : 'failed';
  return new HarnessError(
    'missing_credential',
    `${owner} reads its key from the command ${argv[0]}, which ${how}`,
    {
      hint: 'run the command by hand to check it prints the key on stdout',
      details: { ref: ref.slice(0, 4) + argv[0], program: argv[0] },
    },
  );
}

/** The error of a `cmd:` reference that printed nothing. */
export function commandEmpty(ref: string, argv: readonly string[], owner: string): HarnessError {
  return new HarnessError(
    'missing_credential',
    `${owner} reads its key from the command ${argv[0]}, which printed nothing`,
    {
      hint: 'the command must print the key on stdout',
      details: { ref: ref.slice(0, 4) + argv[0], program: argv[0] },
    },
  );
}

/**
 * Splits a command line into argv like a POSIX shell splits words: whitespace separates,
 * single quotes keep everything literal, double quotes keep spaces (with `\"` and `\\`), a
 * backslash outside quotes escapes the next character. Nothing is expanded or interpreted.
 */
export function splitCommand(line: string): string[] {
  const argv: string[] = [];
  let word = '';
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) argv.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote !== undefined) {
    throw new HarnessError('config_invalid', `the command "${line}" has an unclosed ${quote} quote`, {
      hint: 'close the quote',
    });
  }
  if (inWord) argv.push(word);
  return argv;
}
