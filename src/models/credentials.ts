/**
 * Credential references. A model entry never holds a key directly in a committed file:
 * it says `env:OPENAI_API_KEY` or `file:/run/secrets/openai`, and the value is read at start.
 * Every value read is registered with the {@link Redactor} so it cannot leak into logs,
 * events or errors.
 */
import { readFileSync } from 'node:fs';
import { HarnessError } from '../errors.ts';

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
}

/**
 * Resolves `env:NAME`, `file:/path` or a literal value. A missing variable or unreadable
 * file is a `missing_credential` error naming the variable or path, never the value.
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
  } else {
    value = ref;
  }
  options.redactor?.add(value);
  return value;
}
