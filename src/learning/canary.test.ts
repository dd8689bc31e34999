import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateText, jsonSchema, streamText } from 'ai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { ModelRegistry } from '../models/registry.ts';
import type { SkillContext } from '../runtime/skill.ts';
import { ScriptedModel, type ScriptStep } from '../testing/scripted-model.ts';
import { bucket, CanaryController, type CanaryDecision, seededRandom } from './canary.ts';
import { createCanaryModel } from './canary-model.ts';
import { canarySkill } from './canary-skill.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'forge-canary-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const fast = { minSamples: 5 };

/** Records `n` outcomes for `version`: ok unless `fail(i)`. */
function feed(
  c: CanaryController,
  subject: string,
  version: string,
  n: number,
  fail: (i: number) => boolean = () => false,
) {
  let decision: CanaryDecision | undefined;
  for (let i = 0; i < n && decision === undefined; i++) {
    decision = c.record(subject, version, { ok: !fail(i), latencyMs: 100 });
  }
  return decision;
}

function thrown(f: () => unknown): HarnessError {
  try {
    f();
  } catch (error) {
    if (HarnessError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected a HarnessError');
}

describe('CanaryController', () => {
  it('splits traffic by share: at random with the injected generator, or by key', () => {
    const c = new CanaryController({ random: seededRandom(7) });
    c.start('s', { stable: 'v1', candidate: 'v2', share: 0.2 });
    const random = Array.from({ length: 4000 }, () => c.route('s').arm);
    const share = random.filter((arm) => arm === 'candidate').length / random.length;
    expect(share).toBeGreaterThan(0.17);
    expect(share).toBeLessThan(0.23);
    const byKey = Array.from({ length: 4000 }, (_, i) => c.route('s', `run_${i}/agent/call-1`).arm);
    const keyShare = byKey.filter((arm) => arm === 'candidate').length / byKey.length;
    expect(keyShare).toBeGreaterThan(0.17);
    expect(keyShare).toBeLessThan(0.23);
    // The same key, the same version (a re-executed step keeps its version).
    for (let i = 0; i < 50; i++) expect(c.route('s', `run_${i}/agent/call-1`).arm).toBe(byKey[i]);
    expect(bucket('x')).toBe(bucket('x'));
    expect(bucket('x')).not.toBe(bucket('y'));
  });

  it('rolls a failing candidate back, tells listeners, and routes everything to the stable version', () => {
    const c = new CanaryController({ test: fast });
    const heard: CanaryDecision[] = [];
    c.onDecision((d) => heard.push(d));
    c.start('model:chat', { stable: 'good', candidate: 'shaky', share: 0.5 });
    feed(c, 'model:chat', 'good', 30);
    const decision = feed(c, 'model:chat', 'shaky', 200, (i) => i % 2 === 0);
    expect(decision).toMatchObject({
      subject: 'model:chat',
      decision: 'rollback',
      stable: 'good',
      candidate: 'shaky',
      by: 'test',
    });
    expect(decision?.reason).toMatch(/^more errors/);
    expect(heard).toEqual([decision]);
    expect(c.state('model:chat')).toMatchObject({
      status: 'rolled-back',
      active: 'good',
      reason: decision?.reason,
    });
    for (let i = 0; i < 100; i++)
      expect(c.route('model:chat')).toEqual({ arm: 'stable', version: 'good', status: 'rolled-back' });
    // Decided: later outcomes change nothing.
    expect(c.record('model:chat', 'shaky', { ok: true })).toBeUndefined();
    expect(c.state('model:chat')?.stats.candidate.calls).toBe(decision?.stats.candidate.calls);
  });

  it('promotes a healthy candidate; every call then gets it', () => {
    const c = new CanaryController({ test: fast });
    c.start('s', { stable: '1.0.0', candidate: '1.1.0', share: 0.5 });
    let decision: CanaryDecision | undefined;
    for (let i = 0; i < 500 && !decision; i++) {
      decision = c.record('s', i % 2 ? '1.0.0' : '1.1.0', { ok: true, latencyMs: 80 + (i % 7) });
    }
    expect(decision).toMatchObject({ decision: 'promote', stable: '1.0.0', candidate: '1.1.0' });
    expect(decision?.reason).toMatch(/^no regression/);
    expect(c.route('s')).toEqual({ arm: 'candidate', version: '1.1.0', status: 'promoted' });
    expect(c.state('s')?.active).toBe('1.1.0');
  });

  it('keeps state in the file: a new controller (a restart) goes on where the last one stopped', () => {
    const path = join(dir, 'canary.db');
    const first = new CanaryController({ path: `sqlite://${path}`, test: fast });
    first.start('a', { stable: 'v1', candidate: 'v2' });
    first.start('b', { stable: 'v1', candidate: 'v2' });
    feed(first, 'a', 'v1', 10);
    feed(first, 'a', 'v2', 10, () => true);
    expect(first.state('a')?.status).toBe('rolled-back');
    feed(first, 'b', 'v1', 3);
    first.close();

    const second = new CanaryController({ path, test: fast });
    // Same pair: the rollback stays, the counts go on.
    expect(second.start('a', { stable: 'v1', candidate: 'v2' })).toMatchObject({
      status: 'rolled-back',
      active: 'v1',
    });
    expect(second.route('a').version).toBe('v1');
    expect(second.start('b', { stable: 'v1', candidate: 'v2', share: 0.3 })).toMatchObject({
      status: 'running',
      share: 0.3,
      stats: { stable: { calls: 3 } },
    });
    // Another pair: a new canary; the old decision stays in the history.
    expect(second.start('a', { stable: 'v1', candidate: 'v3' })).toMatchObject({
      status: 'running',
      candidate: 'v3',
    });
    expect(second.decisions('a')).toMatchObject([{ decision: 'rollback', candidate: 'v2' }]);
    expect(second.list().map((s) => s.subject)).toEqual(['a', 'b']);
    second.close();
  });

  it('two controllers on one file add to the same counts', () => {
    const path = join(dir, 'shared.db');
    const a = new CanaryController({ path, test: { minSamples: 50 } });
    const b = new CanaryController({ path, test: { minSamples: 50 } });
    a.start('s', { stable: 'v1', candidate: 'v2' });
    b.start('s', { stable: 'v1', candidate: 'v2' });
    feed(a, 's', 'v1', 4);
    feed(b, 's', 'v1', 6);
    expect(a.state('s')?.stats.stable.calls).toBe(10);
    b.rollback('s', 'operator says no');
    expect(a.route('s')).toEqual({ arm: 'stable', version: 'v1', status: 'rolled-back' });
    a.close();
    b.close();
  });

  it('records scores, ignores outcomes of unknown versions, and decides by hand', () => {
    const c = new CanaryController();
    c.start('s', { stable: 'v1', candidate: 'v2' });
    expect(c.record('s', 'v9', { ok: false })).toBeUndefined();
    c.record('s', 'v2', { ok: true, latencyMs: 10, score: 0.7 });
    c.score('s', 'v2', 0.9);
    expect(c.state('s')?.stats.candidate).toMatchObject({ calls: 1, errors: 0, score: { n: 2 } });
    expect(c.promote('s', 'looks right')).toMatchObject({
      decision: 'promote',
      by: 'manual',
      reason: 'looks right',
    });
    expect(c.promote('s')).toBeUndefined();
    expect(c.decisions()).toHaveLength(1);
  });

  it('refuses bad starts with config_invalid naming the option', () => {
    const c = new CanaryController();
    expect(thrown(() => c.start('s', { stable: 'v1', candidate: 'v1' }))).toMatchObject({
      code: 'config_invalid',
      location: { path: 'CanaryController.start("s").candidate' },
    });
    expect(thrown(() => c.start('s', { stable: 'v1', candidate: 'v2', share: 0 })).location?.path).toBe(
      'CanaryController.start("s").share',
    );
    expect(
      thrown(() => c.start('s', { stable: 'v1', candidate: 'v2', test: { alpha: 2 } })).location?.path,
    ).toBe('CanaryController.start("s").test.alpha');
    expect(thrown(() => new CanaryController({ test: { minSamples: 0 } })).location?.path).toBe(
      'CanaryController.test.minSamples',
    );
    expect(thrown(() => c.route('nope'))).toMatchObject({ code: 'canary_error' });
  });

  it('a state file that cannot be opened is canary_error; one that breaks later is reported, not thrown', () => {
    expect(thrown(() => new CanaryController({ path: dir }))).toMatchObject({ code: 'canary_error' });
    const c = new CanaryController({ path: join(dir, 'c.db') });
    c.start('s', { stable: 'v1', candidate: 'v2', share: 1 });
    const errors: HarnessError[] = [];
    c.onError((e) => errors.push(e));
    c.close();
    // Routing keeps working on the last state read; recording fails quietly and is reported.
    expect(c.route('s')).toEqual({ arm: 'candidate', version: 'v2', status: 'running' });
    expect(c.record('s', 'v2', { ok: true })).toBeUndefined();
    expect(c.peek('s')?.candidate).toBe('v2');
    expect(errors.map((e) => e.code)).toEqual(['canary_error', 'canary_error', 'canary_error']);
  });
});

describe('createCanaryModel', () => {
  const models = (candidate: ScriptStep[]) => ({
    stable: new ScriptedModel({ steps: [{ text: 'stable answer' }], loop: true, modelId: 'stable' }),
    candidate: new ScriptedModel({ steps: candidate, loop: true, modelId: 'candidate' }),
  });

  it('routes generate and stream calls, records errors, rolls back, then only the stable model answers', async () => {
    const m = models([
      { error: new Error('boom') },
      { text: 'candidate answer' },
      { streamError: new Error('cut'), afterChunks: 1, stream: ['candidate ', 'answer'] },
    ]);
    const controller = new CanaryController({ test: fast, random: seededRandom(3) });
    const heard: CanaryDecision[] = [];
    controller.onDecision((d) => heard.push(d));
    const model = createCanaryModel({
      id: 'chat',
      stable: 'stable-id',
      candidate: 'candidate-id',
      share: 0.5,
      controller,
      resolve: (id) => (id === 'stable-id' ? m.stable : m.candidate),
      costOf: (id, input, output) => (id === 'stable-id' ? 1 : 2) * (input + output),
    });
    let failures = 0;
    for (let i = 0; i < 200 && heard.length === 0; i++) {
      try {
        const result =
          i % 2 === 0
            ? await generateText({ model, prompt: 'hi', maxRetries: 0 })
            : await (async () => {
                const s = streamText({ model, prompt: 'hi', maxRetries: 0, onError: () => {} });
                const text = await s.text;
                if ((await s.finishReason) === 'error') throw new Error('stream failed');
                return { text, providerMetadata: await s.providerMetadata };
              })();
        const forge = (
          result.providerMetadata as { forge: { canary: { model: string; arm: string }; costUsd: number } }
        ).forge;
        expect(forge.canary.model).toBe(forge.canary.arm === 'stable' ? 'stable-id' : 'candidate-id');
        expect(result.text).toBe(forge.canary.arm === 'stable' ? 'stable answer' : 'candidate answer');
        expect(forge.costUsd).toBeGreaterThan(0);
      } catch {
        failures++;
      }
    }
    expect(heard).toMatchObject([{ subject: 'model:chat', decision: 'rollback', candidate: 'candidate-id' }]);
    expect(failures).toBeGreaterThan(0);
    const before = m.candidate.calls.length;
    for (let i = 0; i < 20; i++) {
      expect((await generateText({ model, prompt: 'hi', maxRetries: 0 })).text).toBe('stable answer');
    }
    expect(m.candidate.calls.length).toBe(before);
  });

  it('does not count an aborted call against the model', async () => {
    const slow = new ScriptedModel({ steps: [{ text: 'late' }], loop: true, delayMs: 1000 });
    const controller = new CanaryController();
    const model = createCanaryModel({
      id: 'chat',
      stable: 'a',
      candidate: 'b',
      share: 1,
      controller,
      resolve: () => slow,
    });
    const abort = new AbortController();
    const call = generateText({ model, prompt: 'hi', maxRetries: 0, abortSignal: abort.signal });
    abort.abort();
    await expect(call).rejects.toThrow();
    expect(controller.state('model:chat')?.stats.candidate.calls).toBe(0);
  });
});

describe('canaries in the registry', () => {
  it('a canary that contains itself through an ensemble is config_invalid', () => {
    const registry = new ModelRegistry([
      { id: 'a', type: 'simulated' },
      { id: 'e', type: 'ensemble', ensemble: { members: ['a', 'c'] } },
      { id: 'c', type: 'canary', canary: { stable: 'e', candidate: 'a', state: ':memory:' } },
    ]);
    expect(thrown(() => registry.resolve('c'))).toMatchObject({
      code: 'config_invalid',
      message: 'canary "c" contains itself through its models',
    });
    expect(thrown(() => registry.canaryController('a'))).toMatchObject({ code: 'config_invalid' });
  });

  it('names a missing model with a did-you-mean, and a canary cannot make embeddings', () => {
    const registry = new ModelRegistry([
      { id: 'alpha', type: 'simulated' },
      { id: 'c', type: 'canary', canary: { stable: 'alpha', candidate: 'alpah2', state: ':memory:' } },
    ]);
    expect(thrown(() => registry.resolve('c'))).toMatchObject({
      code: 'unknown_model',
      location: { path: 'ModelEntry(c).canary.candidate' },
    });
    expect(thrown(() => registry.resolveEmbedding('c')).code).toBe('unknown_model');
  });
});

describe('canarySkill', () => {
  const context = (key: string, events: unknown[]): SkillContext =>
    ({
      runId: 'run_1',
      path: ['c', 'a'],
      council: 'c',
      agent: 'a',
      model: 'm',
      idempotencyKey: key,
      signal: new AbortController().signal,
      emit: (event: unknown) => events.push(event),
    }) as unknown as SkillContext;
  const skill = (version: string, run: (input: { n: number }) => unknown) => ({
    name: 'lookup',
    description: 'looks up',
    version,
    inputSchema: jsonSchema<{ n: number }>({ type: 'object' }),
    run: (input: { n: number }) => run(input),
  });

  it('routes by the call key, records outcomes and reports the decision as a run event', async () => {
    const controller = new CanaryController({ test: fast });
    const canary = canarySkill({
      stable: skill('1.0.0', (input) => `old ${input.n}`),
      candidate: skill('2.0.0', () => {
        throw new Error('candidate broke');
      }),
      share: 0.5,
      controller,
    });
    expect(canary).toMatchObject({ name: 'lookup', version: '1.0.0', subject: 'skill:lookup' });
    const events: unknown[] = [];
    let failures = 0;
    for (let i = 0; i < 300 && events.length === 0; i++) {
      try {
        expect(await canary.run({ n: i } as never, context(`run_${i}/c/a/call`, events))).toBe(`old ${i}`);
      } catch (error) {
        expect((error as Error).message).toBe('candidate broke');
        failures++;
      }
    }
    expect(failures).toBeGreaterThan(0);
    expect(events).toMatchObject([
      {
        type: 'canary-decision',
        subject: 'skill:lookup',
        decision: 'rollback',
        stable: '1.0.0',
        candidate: '2.0.0',
      },
    ]);
    expect(canary.version).toBe('1.0.0');
    for (let i = 0; i < 30; i++)
      expect(await canary.run({ n: i } as never, context(`later_${i}`, events))).toBe(`old ${i}`);
  });

  it('needs two versions of one skill', () => {
    expect(
      thrown(() =>
        canarySkill({
          stable: skill('1.0.0', () => 1),
          candidate: { ...skill('2.0.0', () => 1), name: 'other' },
        }),
      ),
    ).toMatchObject({ code: 'config_invalid', location: { path: 'canarySkill.candidate.name' } });
  });
});
