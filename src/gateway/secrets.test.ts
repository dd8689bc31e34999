import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { Redactor, resolveCredential, splitCommand } from '../models/credentials.ts';
import { BreakerBoard } from './breaker.ts';
import { createSecretStore, describeRef, KeyPool, type SecretStore } from './secrets.ts';

const dir = mkdtempSync(join(tmpdir(), 'forge-secrets-'));
const node = JSON.stringify(process.execPath);

describe('splitCommand', () => {
  it('splits like a shell, quotes included, and interprets nothing', () => {
    expect(splitCommand(`vault kv get -field=key 'secret/my app'`)).toEqual([
      'vault',
      'kv',
      'get',
      '-field=key',
      'secret/my app',
    ]);
    expect(splitCommand(`echo "a \\"b\\" c" d\\ e $(rm -rf /) ; ls | cat`)).toEqual([
      'echo',
      'a "b" c',
      'd e',
      '$(rm',
      '-rf',
      '/)',
      ';',
      'ls',
      '|',
      'cat',
    ]);
    expect(splitCommand(`a '' b`)).toEqual(['a', '', 'b']);
    expect(() => splitCommand(`a 'b`)).toThrow(/unclosed ' quote/);
  });
});

describe('resolveCredential cmd:', () => {
  it("reads the command's stdout, with no shell in between", () => {
    const redactor = new Redactor();
    const value = resolveCredential(`cmd:${node} -e "process.stdout.write(' sk-from-cmd-1 \\n')"`, {
      owner: 'model "m"',
      redactor,
    });
    expect(value).toBe('sk-from-cmd-1');
    expect(redactor.redact('key sk-from-cmd-1')).toBe('key ***');
    // A shell would run the second command; without one it is an argument of the first.
    const marker = join(dir, 'injected');
    const echoed = resolveCredential(
      `cmd:${node} -e "process.stdout.write(process.argv.slice(1).join(' '))" ; touch ${marker}`,
      { owner: 'model "m"' },
    );
    expect(echoed).toBe(`; touch ${marker}`);
  });

  it('names the program and how it failed, never its output', () => {
    const fail = (ref: string) => {
      try {
        resolveCredential(ref, { owner: 'model "m"', commandTimeoutMs: 300 });
      } catch (error) {
        return error as HarnessError;
      }
      throw new Error('did not fail');
    };
    const exited = fail(`cmd:${node} -e "console.log('sk-leaked-9999'); process.exit(3)"`);
    expect(exited.code).toBe('missing_credential');
    expect(exited.message).toMatch(/exited with code 3/);
    expect(JSON.stringify(exited.toJSON())).not.toContain('sk-leaked-9999');
    expect(fail('cmd:/nonexistent/program').message).toMatch(/could not be started/);
    expect(fail(`cmd:${node} -e "setTimeout(() => {}, 5000)"`).message).toMatch(
      /did not finish within 300 ms/,
    );
    expect(fail(`cmd:${node} -e ""`).message).toMatch(/printed nothing/);
  });
});

describe('createSecretStore', () => {
  it('caches values and reads env, file and cmd sources again on refresh', async () => {
    const env: Record<string, string | undefined> = { KEY: 'sk-env-one' };
    const file = join(dir, 'key');
    writeFileSync(file, 'sk-file-one\n');
    const counter = join(dir, 'count');
    writeFileSync(counter, '0');
    const cmd = `cmd:${node} -e "const f=process.argv[1];const n=+require('fs').readFileSync(f,'utf8')+1;require('fs').writeFileSync(f,String(n));console.log('sk-cmd-'+n)" ${counter}`;
    const redactor = new Redactor();
    const store = createSecretStore({ env, redactor });

    expect(await store.get('env:KEY')).toBe('sk-env-one');
    expect(await store.get(`file:${file}`)).toBe('sk-file-one');
    expect(await store.get(cmd)).toBe('sk-cmd-1');
    env.KEY = 'sk-env-two';
    writeFileSync(file, 'sk-file-two');
    expect(await store.get('env:KEY')).toBe('sk-env-one');
    expect(await store.get(cmd)).toBe('sk-cmd-1');
    expect(await store.get('env:KEY', { refresh: true })).toBe('sk-env-two');
    expect(await store.get(`file:${file}`, { refresh: true })).toBe('sk-file-two');
    expect(await store.get(cmd, { refresh: true })).toBe('sk-cmd-2');
    expect(redactor.redact('sk-env-one sk-file-two sk-cmd-2')).toBe('*** *** ***');
  });

  it('fails with missing_credential naming the reference', async () => {
    const store = createSecretStore({ env: {} });
    await expect(store.get('env:NOPE')).rejects.toMatchObject({ code: 'missing_credential' });
    await expect(store.get(`file:${join(dir, 'missing')}`)).rejects.toMatchObject({
      code: 'missing_credential',
      details: { file: join(dir, 'missing') },
    });
  });

  it('shows a cmd: reference by its program only', () => {
    expect(describeRef('cmd:vault kv get -field=key secret/openai')).toBe('cmd:vault');
    expect(describeRef('env:A')).toBe('env:A');
    expect(describeRef('sk-literal-key-value')).toBe('literal key');
  });
});

/** A store whose values the test sets, counting reads. */
function fakeStore(values: Record<string, string>) {
  let reads = 0;
  let release: () => void = () => {};
  let gate: Promise<void> | undefined;
  const store: SecretStore = {
    async get(ref) {
      reads += 1;
      await gate;
      const value = values[ref];
      if (value === undefined) throw new HarnessError('missing_credential', `no ${ref}`);
      return value;
    },
  };
  return {
    store,
    values,
    reads: () => reads,
    hold: () => {
      gate = new Promise((resolve) => {
        release = () => {
          gate = undefined;
          resolve();
        };
      });
    },
    release: () => release(),
  };
}

describe('KeyPool', () => {
  const pool = (values: Record<string, string>, refs = Object.keys(values), recheckMs = 1000) => {
    const fake = fakeStore({ ...values });
    const initial = { ...values };
    const board = new BreakerBoard({
      defaults: { consecutiveFailures: 2, errorRate: 0, halfOpenAfterMs: 1000 },
    });
    const keys = new KeyPool({
      owner: 'model "m"',
      model: 'm',
      refs,
      store: fake.store,
      readSync: (ref) => initial[ref] as string,
      recheckMs,
      circuit: (ref) => board.get('key', ref),
    });
    return { keys, fake, board };
  };

  it('refreshes a refused key once for all concurrent callers', async () => {
    const { keys, fake } = pool({ 'env:A': 'sk-a-1' });
    const slot = keys.slots[0];
    if (!slot) throw new Error('no slot');
    expect(keys.value(slot)).toBe('sk-a-1');
    fake.values['env:A'] = 'sk-a-2';
    fake.hold();
    const refreshes = Array.from({ length: 10 }, () => keys.refresh(slot, 0));
    fake.release();
    expect(await Promise.all(refreshes)).toEqual(Array(10).fill('rotated'));
    expect(fake.reads()).toBe(1);
    expect(keys.value(slot)).toBe('sk-a-2');
    expect(slot.version).toBe(1);
    // A caller whose attempt used the old version needs no read: the value already changed.
    expect(await keys.refresh(slot, 0)).toBe('rotated');
    expect(fake.reads()).toBe(1);
    // Same value on the next read: unchanged.
    expect(await keys.refresh(slot, 1)).toBe('unchanged');
  });

  it('skips dead keys and keys whose breaker is open; all dead is missing_credential naming refs', async () => {
    const { keys, fake } = pool({ 'env:A': 'sk-a', 'file:/run/b': 'sk-b', 'cmd:vault read c': 'sk-c' });
    const [a, b, c] = keys.slots;
    if (!a || !b || !c) throw new Error('slots');
    // Keys are refused after they were used: their values were read.
    for (const slot of [a, b, c]) keys.value(slot);
    const now = Date.now();
    expect(keys.pick(now)?.slot).toBe(a);
    keys.markDead(a, now);
    expect(keys.pick(now)?.slot).toBe(b);
    b.circuit?.failure(false, 'HTTP 429', now);
    b.circuit?.failure(false, 'HTTP 429', now);
    expect(keys.pick(now)?.slot).toBe(c);
    expect(keys.allDead()).toBe(false);
    keys.markDead(b, now);
    keys.markDead(c, now);
    expect(keys.pick(now)).toBeUndefined();
    expect(keys.allDead()).toBe(true);
    const error = keys.deadError();
    expect(error.code).toBe('missing_credential');
    expect(error.message).toContain('env:A, file:/run/b, cmd:vault');
    expect(JSON.stringify(error.toJSON())).not.toMatch(/sk-[abc]/);
    expect(keys.status()).toEqual([
      { ref: 'env:A', dead: true, breaker: 'closed' },
      { ref: 'file:/run/b', dead: true, breaker: 'open' },
      { ref: 'cmd:vault', dead: true, breaker: 'closed' },
    ]);

    // Recheck: only after recheckMs, and only a key whose value changed comes back.
    expect(keys.mayRevive(now + 999)).toBe(false);
    expect(keys.mayRevive(now + 1000)).toBe(true);
    fake.values['file:/run/b'] = 'sk-b-rotated';
    expect(await keys.revive(now + 1000)).toBe(true);
    expect([a.dead, b.dead, c.dead]).toEqual([true, false, true]);
    expect(keys.value(b)).toBe('sk-b-rotated');
    // The ones that did not change wait another recheckMs.
    expect(keys.mayRevive(now + 1500)).toBe(false);
  });
});
