/**
 * Secrets and key rotation (seed §5.2 "API key revoked"). A {@link SecretStore} reads a credential
 * reference — `env:NAME` (the process environment, read again on refresh), `file:/path` (read
 * again from disk on refresh: Kubernetes secret mounts rotate in place), `cmd:program args` (the
 * program's stdout; run without a shell) — and a {@link KeyPool} holds the keys of one model
 * entry: on a 401/403 the gateway refreshes the key once for all concurrent callers, retries with
 * the fresh value, and marks a key that stays bad dead so the next key of the pool is used.
 *
 * Key values never leave this module except into the provider client: every value read is given
 * to the {@link Redactor}, and errors, events and statuses name references, never values.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { HarnessError } from '../errors.ts';
import {
  commandArgv,
  commandEmpty,
  commandFailed,
  defaultCommandTimeoutMs,
  type Redactor,
  resolveCredential,
  splitCommand,
} from '../models/credentials.ts';
import type { Circuit } from './breaker.ts';

/** Reads credential references. The contract of a secret backend (env, file, command, a vault). */
export interface SecretStore {
  /**
   * The value of `ref`. Values are cached per reference; `refresh: true` reads the source again
   * (and updates the cache). Fails with `missing_credential` naming the reference, never a value.
   */
  get(ref: string, options?: { refresh?: boolean; signal?: AbortSignal }): Promise<string>;
}

/** Options of {@link createSecretStore}. */
export interface SecretStoreOptions {
  /** Environment for `env:` references (default `process.env`, read at each refresh). */
  env?: Record<string, string | undefined>;
  /** Every value read is registered here, so it is redacted from any text the harness reports. */
  redactor?: Redactor;
  /** How long a `cmd:` command may run, ms (default 10 000). */
  commandTimeoutMs?: number;
}

/** The built-in store: `env:`, `file:`, `cmd:` and literal values (a literal never changes). */
export function createSecretStore(options: SecretStoreOptions = {}): SecretStore {
  const cache = new Map<string, string>();
  const timeoutMs = options.commandTimeoutMs ?? defaultCommandTimeoutMs;
  const owner = (ref: string) => `the secret ${describeRef(ref)}`;

  async function read(ref: string, signal: AbortSignal | undefined): Promise<string> {
    if (ref.startsWith('cmd:')) {
      const argv = commandArgv(ref, owner(ref));
      const value = await new Promise<string>((resolve, reject) => {
        execFile(
          argv[0] as string,
          argv.slice(1),
          {
            encoding: 'utf8',
            timeout: timeoutMs,
            maxBuffer: 64 * 1024,
            ...(signal === undefined ? {} : { signal }),
          },
          (error, stdout) => {
            if (error) {
              reject(
                signal?.aborted
                  ? new HarnessError('aborted', `reading ${describeRef(ref)} was aborted`, {
                      cause: signal.reason,
                    })
                  : commandFailed(ref, argv, owner(ref), error, timeoutMs),
              );
            } else resolve(stdout.trim());
          },
        );
      });
      if (value === '') throw commandEmpty(ref, argv, owner(ref));
      return value;
    }
    if (ref.startsWith('file:')) {
      const path = ref.slice(5);
      let value: string;
      try {
        value = (
          await readFile(path, { encoding: 'utf8', ...(signal === undefined ? {} : { signal }) })
        ).trim();
      } catch (cause) {
        throw new HarnessError('missing_credential', `${owner(ref)} cannot be read`, {
          cause: (cause as NodeJS.ErrnoException).code,
          hint: 'check that the secret file is mounted and readable',
          details: { file: path },
        });
      }
      if (value === '') {
        throw new HarnessError('missing_credential', `${owner(ref)} is empty`, {
          hint: 'write the key into the file',
          details: { file: path },
        });
      }
      return value;
    }
    // env: and literals read synchronously, with the same errors as at start.
    return resolveCredential(ref, {
      owner: owner(ref),
      env: options.env ?? process.env,
    });
  }

  return {
    async get(ref, getOptions = {}) {
      const cached = getOptions.refresh ? undefined : cache.get(ref);
      if (cached !== undefined) return cached;
      const value = await read(ref, getOptions.signal);
      options.redactor?.add(value);
      cache.set(ref, value);
      return value;
    },
  };
}

/** A reference as errors and statuses show it: `cmd:` shows its program only. */
export function describeRef(ref: string): string {
  if (!ref.startsWith('cmd:')) return ref.startsWith('env:') || ref.startsWith('file:') ? ref : 'literal key';
  let program: string;
  try {
    program = splitCommand(ref.slice(4))[0] ?? '';
  } catch {
    program = ref.slice(4).trim().split(/\s+/)[0] ?? '';
  }
  return `cmd:${program}`;
}

/** One key of a pool. */
export interface KeySlot {
  /** The credential reference (`env:A`); never the value. */
  readonly ref: string;
  /** Position in the pool. */
  readonly index: number;
  /** Bumped each time the value changes: a built provider client is valid for one version. */
  version: number;
  /** A key the provider refused even after a refresh; rechecked after the pool's `recheckMs`. */
  dead: boolean;
  deadAt: number;
  /** Its breaker (rate limits are per key), when the pool has breakers. */
  circuit: Circuit | undefined;
  /** {@link KeyPool.pick}'s answer for this key when it is no probe (made once: the hot path allocates nothing). */
  pass?: { slot: KeySlot; probe: false };
}

/** A key of a pool as `/health` shows it. */
export interface KeyStatus {
  ref: string;
  dead: boolean;
  breaker: 'closed' | 'open' | 'half-open' | undefined;
}

/** Options of {@link KeyPool}. */
export interface KeyPoolOptions {
  /** Who owns the keys, for errors: `model "gpt" (councils.yaml models[0])`. */
  owner: string;
  /** Model id the keys belong to (details of errors). */
  model: string;
  refs: readonly string[];
  store: SecretStore;
  /** Reads a reference synchronously the first time a key is used (the registry builds models synchronously). */
  readSync: (ref: string) => string;
  /** A dead key is read again from its source at most this often, ms (default 5 000). */
  recheckMs?: number;
  /** The breaker of each key (rate limits are per key); none → keys have no breakers. */
  circuit?: (ref: string) => Circuit;
}

/** The result of {@link KeyPool.refresh}: whether the value changed. */
export type RefreshOutcome = 'rotated' | 'unchanged';

/**
 * The keys of one model entry, in order of preference. The gateway takes {@link KeyPool.pick}
 * per attempt (a state read), refreshes a refused key with {@link KeyPool.refresh} (single-flight),
 * marks it dead when it stays refused, and asks {@link KeyPool.revive} when every key is dead.
 */
export class KeyPool {
  readonly slots: readonly KeySlot[];
  readonly #options: KeyPoolOptions;
  readonly #values: Array<string | undefined>;
  readonly #refreshing = new Map<KeySlot, Promise<RefreshOutcome>>();
  #reviving: Promise<boolean> | undefined;
  readonly #recheckMs: number;

  constructor(options: KeyPoolOptions) {
    this.#options = options;
    this.#recheckMs = options.recheckMs ?? 5_000;
    this.slots = options.refs.map((ref, index) => ({
      ref,
      index,
      version: 0,
      dead: false,
      deadAt: 0,
      circuit: options.circuit?.(ref),
    }));
    this.#values = options.refs.map(() => undefined);
  }

  /** The value of a slot, read on first use (a failure there is `missing_credential` naming the ref). */
  value(slot: KeySlot): string {
    let value = this.#values[slot.index];
    if (value === undefined) {
      value = this.#options.readSync(slot.ref);
      this.#values[slot.index] = value;
    }
    return value;
  }

  /**
   * The first key that is not dead and whose breaker lets a call through; undefined when none.
   * `probe` tells whether the key's breaker made this call its half-open probe.
   */
  pick(now: number): { slot: KeySlot; probe: boolean } | undefined {
    for (const slot of this.slots) {
      if (slot.dead) continue;
      const admission = slot.circuit?.admit(now) ?? 'pass';
      if (admission === 'skip') continue;
      // The caller begins the probe once every other check has passed.
      if (admission === 'probe') return { slot, probe: true };
      slot.pass ??= { slot, probe: false };
      return slot.pass;
    }
    return undefined;
  }

  /** Whether some dead key's recheck time has come (see {@link KeyPool.revive}). */
  mayRevive(now: number): boolean {
    return this.slots.some((slot) => slot.dead && now - slot.deadAt >= this.#recheckMs);
  }

  /** Whether every key is dead (as opposed to some being skipped by their breakers). */
  allDead(): boolean {
    return this.slots.every((slot) => slot.dead);
  }

  /**
   * Reads the slot's source again, once for all concurrent callers: `usedVersion` is the version
   * the caller's refused attempt used; if the value has changed since, no read is needed.
   */
  refresh(slot: KeySlot, usedVersion: number, signal?: AbortSignal): Promise<RefreshOutcome> {
    if (slot.version !== usedVersion) return Promise.resolve('rotated');
    let pending = this.#refreshing.get(slot);
    if (!pending) {
      pending = this.#read(slot, signal).finally(() => this.#refreshing.delete(slot));
      this.#refreshing.set(slot, pending);
    }
    return pending;
  }

  async #read(slot: KeySlot, signal: AbortSignal | undefined): Promise<RefreshOutcome> {
    const fresh = await this.#options.store.get(slot.ref, {
      refresh: true,
      ...(signal === undefined ? {} : { signal }),
    });
    if (fresh === this.#values[slot.index]) return 'unchanged';
    this.#values[slot.index] = fresh;
    slot.version += 1;
    slot.dead = false;
    return 'rotated';
  }

  /** The key stays refused: no call uses it until its source changes (see {@link KeyPool.revive}). */
  markDead(slot: KeySlot, now: number): void {
    slot.dead = true;
    slot.deadAt = now;
  }

  /**
   * Every key is dead: reads the dead keys whose `recheckMs` has passed again (once for all
   * concurrent callers); true when one came back with a new value.
   */
  revive(now: number, signal?: AbortSignal): Promise<boolean> {
    this.#reviving ??= (async () => {
      let revived = false;
      for (const slot of this.slots) {
        if (!slot.dead || now - slot.deadAt < this.#recheckMs) continue;
        // A source that cannot be read now stays dead until the next recheck.
        const outcome = await this.refresh(slot, slot.version, signal).catch(() => 'unchanged' as const);
        if (outcome === 'rotated') revived = true;
        else slot.deadAt = now;
      }
      return revived;
    })().finally(() => {
      this.#reviving = undefined;
    });
    return this.#reviving;
  }

  /**
   * Every key refused: `missing_credential` naming the references (never values), with the last
   * refusal (its message is already redacted) as cause and its status code.
   */
  deadError(last?: HarnessError): HarnessError {
    const refs = this.slots.map((slot) => describeRef(slot.ref));
    const status = last?.details.statusCode;
    return new HarnessError(
      'missing_credential',
      `${this.#options.owner}: the provider refused every API key of its pool (401/403), also after re-reading them: ${refs.join(', ')}${last ? `; last refusal: ${last.message}` : ''}`,
      {
        hint: 'rotate the key in its source (the variable, the secret file or the command); the gateway re-reads refused keys every few seconds',
        ...(last === undefined ? {} : { cause: last }),
        details: {
          model: this.#options.model,
          kind: 'auth',
          refs,
          ...(typeof status === 'number' ? { statusCode: status } : {}),
        },
      },
    );
  }

  status(): KeyStatus[] {
    return this.slots.map((slot) => ({
      ref: describeRef(slot.ref),
      dead: slot.dead,
      breaker: slot.circuit?.state,
    }));
  }
}
