// Key rotation (issue 5 item 6, seed §5.2 "API key revoked") through the public API: a provider
// behind a key-checking proxy, keys from env, file and cmd: references. A refused key is re-read once
// for all concurrent callers and the calls are retried with the fresh value; a pool skips a key that
// stays refused; every key refused is missing_credential naming references; a rewritten secret
// brings a dead key back. No key value appears in any event or error.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, Council, Harness, type HarnessError, type ModelEntry, type RunEvent } from 'forge-harness';
import { FakeProviderServer } from 'forge-harness/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AuthProxy, startAuthProxy } from './auth-proxy.ts';

let fake: FakeProviderServer;
let proxy: AuthProxy;
const dir = mkdtempSync(join(tmpdir(), 'forge-secrets-it-'));
beforeAll(async () => {
  fake = await FakeProviderServer.start();
  proxy = await startAuthProxy(fake.url, []);
});
afterAll(async () => {
  await proxy.close();
  await fake.close();
});
beforeEach(() => {
  fake.reset();
  proxy.accepted.clear();
  proxy.refused.clear();
  proxy.forwarded.clear();
});

const council = (model: string) =>
  new Council({ name: 'C', memory: 'memory://', agents: [new Agent({ name: 'A', model })] });

async function run(h: Harness) {
  const events: RunEvent[] = [];
  const result = await h.run('C', 'hello', { onEvent: (e) => events.push(e) });
  return { result, events };
}

/** Every text the harness reported: events, the error in all its forms. */
const reported = (events: RunEvent[], error?: HarnessError) =>
  JSON.stringify(events) +
  (error ? error.format() + JSON.stringify(error.toJSON()) + String(error.cause) : '');

describe('key refresh', () => {
  it('re-reads a rotated secret once for all concurrent callers and retries with the fresh value', async () => {
    const keyFile = join(dir, 'rotating-key');
    const reads = join(dir, 'reads');
    writeFileSync(keyFile, 'sk-rotate-OLD-0001');
    writeFileSync(reads, '');
    // cmd: counts its runs (a line each) and prints the key file.
    const script = `require('fs').appendFileSync(process.argv[1], 'x'); process.stdout.write(require('fs').readFileSync(process.argv[2], 'utf8'))`;
    const ref = `cmd:${JSON.stringify(process.execPath)} -e "${script}" ${reads} ${keyFile}`;
    const entry: ModelEntry = {
      id: 'm',
      type: 'openai',
      api: 'chat',
      endpoint: `${proxy.url}/v1`,
      apiKey: ref,
    };
    const h = new Harness({ models: [entry], memory: 'memory://', journal: false, councils: [council('m')] });

    proxy.accepted.add('sk-rotate-OLD-0001');
    expect((await h.callLlm({ model: 'm', prompt: 'warm up' })).text).toContain('fake reply');
    expect(readFileSync(reads, 'utf8')).toBe('x');

    // The key is rotated: the old one is revoked and the mounted secret holds the new one.
    proxy.accepted.clear();
    proxy.accepted.add('sk-rotate-NEW-0002');
    writeFileSync(keyFile, 'sk-rotate-NEW-0002');
    const calls = await Promise.all(
      Array.from({ length: 20 }, (_, i) => h.callLlm({ model: 'm', prompt: `call ${i}` })),
    );
    expect(calls.every((c) => c.model === 'm')).toBe(true);
    // One re-read for all 20 callers.
    expect(readFileSync(reads, 'utf8')).toBe('xx');
    expect(proxy.forwarded.get('sk-rotate-NEW-0002')).toBe(20);
    expect(proxy.refused.get('sk-rotate-OLD-0001')).toBeLessThanOrEqual(20);

    // A run shows the refresh; the key values appear nowhere.
    proxy.accepted.clear();
    proxy.accepted.add('sk-rotate-NEW-0003');
    writeFileSync(keyFile, 'sk-rotate-NEW-0003');
    const { result, events } = await run(h);
    expect(result.status).toBe('succeeded');
    expect(events.filter((e) => e.type === 'key-refresh')).toMatchObject([
      { model: 'm', key: `cmd:${process.execPath}`, outcome: 'rotated' },
    ]);
    expect(events.filter((e) => e.type === 'model-call-start')).toHaveLength(2);
    expect(reported(events)).not.toMatch(/sk-rotate-(OLD|NEW)/);
    await h.stop();
  });
});

describe('key pools', () => {
  it('skip a revoked key, then report every key refused by reference, and revive a rewritten one', async () => {
    const fileB = join(dir, 'pool-b');
    writeFileSync(fileB, 'sk-pool-B-0001\n');
    const entry: ModelEntry = {
      id: 'm',
      type: 'anthropic',
      endpoint: `${proxy.url}/v1`,
      apiKeys: ['env:POOL_KEY_A', `file:${fileB}`],
      // Dead keys are read again after the breaker cooldown.
      breaker: { halfOpenAfterMs: 200 },
    };
    const h = new Harness({
      models: [entry],
      env: { POOL_KEY_A: 'sk-pool-A-revoked' },
      memory: 'memory://',
      journal: false,
      councils: [council('m')],
    });
    proxy.accepted.add('sk-pool-B-0001');

    const first = await run(h);
    expect(first.result.status).toBe('succeeded');
    expect(first.events.filter((e) => e.type === 'key-refresh')).toMatchObject([
      { key: 'env:POOL_KEY_A', outcome: 'unchanged' },
      { key: 'env:POOL_KEY_A', outcome: 'dead' },
    ]);
    expect(first.events.filter((e) => e.type === 'model-call-start')).toHaveLength(2);
    expect(h.registry.keys('m')).toEqual([
      { ref: 'env:POOL_KEY_A', dead: true, breaker: 'closed' },
      { ref: `file:${fileB}`, dead: false, breaker: 'closed' },
    ]);
    // The dead key is not tried again.
    const second = await run(h);
    expect(second.events.filter((e) => e.type === 'model-call-start')).toHaveLength(1);
    expect(proxy.refused.get('sk-pool-A-revoked')).toBe(1);

    // Now B is revoked too: every key refused, named by reference, with no value anywhere.
    proxy.accepted.clear();
    const failed = await run(h);
    expect(failed.result.status).toBe('failed');
    const error = failed.result.error as HarnessError;
    expect(error.code).toBe('missing_credential');
    expect(error.message).toContain(`env:POOL_KEY_A, file:${fileB}`);
    expect(error.details).toMatchObject({ kind: 'auth', statusCode: 401 });
    const everything = reported(failed.events, error) + reported(first.events) + reported(second.events);
    expect(everything).not.toContain('sk-pool-A-revoked');
    expect(everything).not.toContain('sk-pool-B-0001');
    // Later calls fail at once, without a request, until a source changes.
    const refusedBefore = [...proxy.refused.values()].reduce((a, b) => a + b, 0);
    await expect(h.callLlm({ model: 'm', prompt: 'hi' })).rejects.toMatchObject({
      code: 'missing_credential',
    });
    expect([...proxy.refused.values()].reduce((a, b) => a + b, 0)).toBe(refusedBefore);

    // The mounted secret is rewritten: after the recheck interval the key comes back.
    writeFileSync(fileB, 'sk-pool-B-0002\n');
    proxy.accepted.add('sk-pool-B-0002');
    const deadline = Date.now() + 5000;
    let revived: Awaited<ReturnType<typeof run>> | undefined;
    while (!revived && Date.now() < deadline) {
      const attempt = await run(h);
      if (attempt.result.status === 'succeeded') revived = attempt;
      else await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(revived?.events.find((e) => e.type === 'key-refresh')).toMatchObject({
      key: `file:${fileB}`,
      outcome: 'revived',
    });
    expect(reported(revived?.events ?? [])).not.toContain('sk-pool-B-0002');
    await h.stop();
  });
});
