// Canary releases through the public API (issue 5, item 9). A `type: canary` model in YAML whose
// candidate is a FakeProviderServer model failing every other call is rolled back automatically,
// traffic goes back to the stable model, and a restart (a new Harness on the same state file)
// keeps the rollback; a healthy candidate is promoted and keeps every call after a restart. The
// same for a skill canary in a council. YAML mistakes in `canary:` are located in the file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CanaryController,
  type CanaryDecision,
  canarySkill,
  Harness,
  HarnessError,
  type RunEvent,
  Skill,
  seededRandom,
} from 'forge-harness';
import { parseConfig } from 'forge-harness/config';
import { FakeProviderServer } from 'forge-harness/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { thrown } from './harness-errors.ts';

let fake: FakeProviderServer;
let dir: string;
beforeAll(async () => {
  fake = await FakeProviderServer.start();
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.reset();
  dir = mkdtempSync(join(tmpdir(), 'forge-canary-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Two OpenAI-wire models on the fake server and a canary between them. */
function canaryYaml(state: string, extra = ''): string {
  const endpoint = fake.baseUrl('openai');
  return `
models:
  - id: good
    type: openai
    api: chat
    model: good-model
    api_key: sk-canary-good-0001
    endpoint: ${endpoint}
  - id: shaky
    type: openai
    api: chat
    model: shaky-model
    api_key: sk-canary-shaky-0002
    endpoint: ${endpoint}
  - id: chat
    type: canary
    canary:
      stable: good
      candidate: shaky
      share: 0.5
      state: sqlite://${state}
      min_samples: 10${extra}
councils:
  - name: Chat
    agents:
      - name: Bot
        model: chat
journal: false
`;
}

/** Quick retries, so a failed candidate call is retried (and routed again) without a wait. */
const options = { memory: 'memory://', retry: { baseDelayMs: 1, maxDelayMs: 5 } };

/** The candidate fails every other call it gets: a 500, then a normal answer, and so on. */
function failEveryOtherCall(model: string, calls: number): void {
  for (let i = 0; i < calls; i++) {
    fake.injectFault({ status: 500, match: { model } });
    fake.injectFault({ latencyMs: 0, match: { model } });
  }
}

const calls = (model: string) => fake.counters().byModel[model] ?? 0;

/** Runs the council until the canary decides (at most `max` runs); the decision and the runs' statuses. */
async function untilDecided(harness: Harness, max: number) {
  const controller = harness.registry.canaryController('chat');
  const decisions: CanaryDecision[] = [];
  const stop = controller.onDecision((d) => decisions.push(d));
  const statuses: string[] = [];
  // Four runs at a time: the canary sees concurrent traffic, and the test takes a quarter of the time.
  for (let i = 0; i < max && decisions.length === 0; i += 4) {
    const batch = await Promise.all([0, 1, 2, 3].map((j) => harness.run('Chat', `question ${i + j}`)));
    statuses.push(...batch.map((result) => result.status));
  }
  stop();
  return { decision: decisions[0], statuses };
}

describe('model canary (type: canary)', () => {
  it('rolls back a candidate failing half its calls; traffic goes back to stable; a restart keeps the rollback', async () => {
    const state = join(dir, 'canary.db');
    failEveryOtherCall('shaky-model', 200);
    const harness = Harness.fromYaml(canaryYaml(state), options);
    const { decision, statuses } = await untilDecided(harness, 200);
    expect(decision).toMatchObject({
      subject: 'model:chat',
      decision: 'rollback',
      stable: 'good',
      candidate: 'shaky',
      by: 'test',
      reason: expect.stringMatching(/^more errors: error rate \d/),
    });
    expect(decision?.stats.candidate.errors).toBeGreaterThan(0);
    // The gateway retried the failed candidate calls, routed again: runs kept succeeding.
    expect(statuses.filter((s) => s === 'succeeded').length).toBeGreaterThan(statuses.length * 0.9);

    // Back on stable: the candidate gets no more calls.
    const shaky = calls('shaky-model');
    const good = calls('good-model');
    for (let i = 0; i < 8; i++) expect((await harness.run('Chat', `after ${i}`)).status).toBe('succeeded');
    expect(calls('shaky-model')).toBe(shaky);
    expect(calls('good-model')).toBe(good + 8);
    // The decision is a metric too (model canaries decide outside any run).
    expect(await harness.metrics.metrics()).toMatch(
      /forge_canary_decisions_total\{subject="model:chat",decision="rollback"\} 1/,
    );
    await harness.stop();

    // A restart: a new harness reads the rollback from the state file.
    const restarted = Harness.fromYaml(canaryYaml(state), options);
    expect(restarted.registry.canaryController('chat').state('model:chat')).toMatchObject({
      status: 'rolled-back',
      active: 'good',
      reason: decision?.reason,
    });
    for (let i = 0; i < 5; i++)
      expect((await restarted.run('Chat', `restarted ${i}`)).status).toBe('succeeded');
    expect(calls('shaky-model')).toBe(shaky);
    expect(restarted.registry.canaryController('chat').decisions('model:chat')).toHaveLength(1);
    await restarted.stop();
  });

  it('promotes a healthy candidate: every call then goes to it, also after a restart', async () => {
    const state = join(dir, 'canary.db');
    const yaml = canaryYaml(state, '\n      error_margin: 0.1');
    const harness = Harness.fromYaml(yaml, options);
    const { decision, statuses } = await untilDecided(harness, 300);
    expect(decision).toMatchObject({
      decision: 'promote',
      stable: 'good',
      candidate: 'shaky',
      reason: expect.stringMatching(/^no regression: error rate 0%/),
    });
    expect(statuses.every((s) => s === 'succeeded')).toBe(true);
    const good = calls('good-model');
    await harness.stop();

    const restarted = Harness.fromYaml(yaml, options);
    const shaky = calls('shaky-model');
    const events: RunEvent[] = [];
    for (let i = 0; i < 6; i++)
      await restarted.run('Chat', `promoted ${i}`, { onEvent: (e) => events.push(e) });
    expect(calls('shaky-model')).toBe(shaky + 6);
    expect(calls('good-model')).toBe(good);
    // Runs name the canary's id as their model; which model answered is the canary's business.
    expect(
      events
        .filter((e) => e.type === 'model-call-finish')
        .map((e) => e.type === 'model-call-finish' && e.model),
    ).toEqual(Array(6).fill('chat'));
    await restarted.stop();
  });
});

describe('model canary and hot reload', () => {
  const yaml = (state: string, candidate: string, fallback = '') => `models:
  - { id: a, type: simulated }
  - { id: b, type: simulated }
  - { id: c, type: simulated }
  - { id: keyed, type: openai, api_key: env:FORGE_CANARY_TEST_MISSING_KEY }
  - id: chat
    type: canary
    canary: { stable: a, candidate: ${candidate}, share: 0.5, state: "sqlite://${state}" }
councils:
  - name: Chat
    agents: [{ name: Bot, model: chat${fallback} }]
journal: false
`;

  it('a refused reload changes no canary; an accepted one with a new pair starts it at its first call', async () => {
    const state = join(dir, 'reload.db');
    const harness = Harness.fromYaml(yaml(state, 'b'), { memory: 'memory://', env: {} });
    for (let i = 0; i < 4; i++) expect((await harness.run('Chat', `hi ${i}`)).status).toBe('succeeded');
    const controller = harness.registry.canaryController('chat');
    const before = controller.state('model:chat');
    expect(before).toMatchObject({ stable: 'a', candidate: 'b', status: 'running' });
    expect((before?.stats.stable.calls ?? 0) + (before?.stats.candidate.calls ?? 0)).toBe(4);

    // The staged registry builds the new canary, then fails on the fallback's key: refused.
    const refused = await harness.reload({ yaml: yaml(state, 'c', ', fallback: [keyed]') }).catch((e) => e);
    expect(refused).toMatchObject({ code: 'missing_credential' });
    expect(controller.state('model:chat')).toEqual(before);

    await harness.reload({ yaml: yaml(state, 'c') });
    expect(controller.state('model:chat')?.candidate).toBe('b');
    expect((await harness.run('Chat', 'after the reload')).status).toBe('succeeded');
    expect(harness.registry.canaryController('chat').state('model:chat')).toMatchObject({
      stable: 'a',
      candidate: 'c',
      status: 'running',
    });
    await harness.stop();
  });
});

describe('skill canary (canarySkill)', () => {
  type Order = { id: string; status: string };
  const input = z.object({ id: z.string() });

  function skills(candidateFails: boolean) {
    const counts = { stable: 0, candidate: 0 };
    const stable = new Skill({
      name: 'lookup_order',
      description: 'Looks an order up.',
      version: '1.0.0',
      input,
      run: ({ id }): Order => {
        counts.stable++;
        return { id, status: 'shipped' };
      },
    });
    const candidate = new Skill({
      name: 'lookup_order',
      description: 'Looks an order up.',
      version: '2.0.0',
      input,
      run: ({ id }): Order => {
        counts.candidate++;
        if (candidateFails && counts.candidate % 2 === 1)
          throw new HarnessError('skill_failed', 'backend timeout');
        return { id, status: 'shipped' };
      },
    });
    return { stable, candidate, counts };
  }

  /** A council whose model calls the skill once per run (replies queued on the fake server). */
  function shop(skill: ReturnType<typeof canarySkill>) {
    return new Harness({
      models: [
        {
          id: 'clerk-model',
          type: 'openai',
          api: 'chat',
          model: 'clerk-model',
          apiKey: 'sk-canary-clerk-0003',
          endpoint: fake.baseUrl('openai'),
        },
      ],
      councils: [
        { name: 'Shop', agents: [{ name: 'Clerk', model: 'clerk-model', skills: ['lookup_order'] }] },
      ],
      skills: [skill],
      memory: 'memory://',
      journal: false,
    });
  }

  /** One run in which the model looks three orders up at once. */
  async function run(harness: Harness, i: number, events: RunEvent[]) {
    fake.enqueueReply({
      toolCalls: [1, 2, 3].map((n) => ({ name: 'lookup_order', args: { id: `A-${i}-${n}` } })),
    });
    fake.enqueueReply({ text: 'Your order has shipped.' });
    const result = await harness.run('Shop', `where is order A-${i}?`, { onEvent: (e) => events.push(e) });
    expect(result.status).toBe('succeeded');
  }

  it('rolls back a failing skill version, reports it as a run event, and a restart keeps stable', async () => {
    const path = join(dir, 'skills.db');
    const v = skills(true);
    const controller = new CanaryController({ path, test: { minSamples: 10 }, random: seededRandom(9) });
    const harness = shop(canarySkill({ ...v, share: 0.5, controller, key: () => undefined }));
    const events: RunEvent[] = [];
    for (let i = 0; i < 200 && !events.some((e) => e.type === 'canary-decision'); i++)
      await run(harness, i, events);
    const decision = events.find((e) => e.type === 'canary-decision');
    expect(decision).toMatchObject({
      path: ['Shop', 'Clerk'],
      subject: 'skill:lookup_order',
      decision: 'rollback',
      stable: '1.0.0',
      candidate: '2.0.0',
      reason: expect.stringMatching(/^more errors/),
    });
    // The failures reached the model as tool errors; the runs went on.
    expect(events.some((e) => e.type === 'tool-call-error' && e.error.message === 'backend timeout')).toBe(
      true,
    );
    const before = { ...v.counts };
    for (let i = 0; i < 4; i++) await run(harness, 1000 + i, events);
    expect(v.counts).toEqual({ stable: before.stable + 12, candidate: before.candidate });
    expect(await harness.metrics.metrics()).toMatch(
      /forge_canary_decisions_total\{subject="skill:lookup_order",decision="rollback"\} 1/,
    );
    await harness.stop();
    controller.close();

    const w = skills(true);
    const again = new CanaryController({ path });
    const restarted = shop(canarySkill({ ...w, share: 0.5, controller: again }));
    for (let i = 0; i < 3; i++) await run(restarted, 2000 + i, []);
    expect(w.counts).toEqual({ stable: 9, candidate: 0 });
    await restarted.stop();
    again.close();
  });

  it('promotes a healthy skill version; the skill then reports it as its version', async () => {
    const v = skills(false);
    const controller = new CanaryController({
      test: { minSamples: 10, errorMargin: 0.1 },
      random: seededRandom(4),
    });
    const skill = canarySkill({ ...v, share: 0.5, controller, key: () => undefined });
    const harness = shop(skill);
    const events: RunEvent[] = [];
    for (let i = 0; i < 200 && !events.some((e) => e.type === 'canary-decision'); i++)
      await run(harness, i, events);
    expect(events.find((e) => e.type === 'canary-decision')).toMatchObject({
      decision: 'promote',
      candidate: '2.0.0',
    });
    expect(skill.version).toBe('2.0.0');
    const before = { ...v.counts };
    for (let i = 0; i < 3; i++) await run(harness, 1000 + i, events);
    expect(v.counts).toEqual({ stable: before.stable, candidate: before.candidate + 9 });
    await harness.stop();
  });
});

describe('canary: in YAML', () => {
  const base = (canary: string, extra = '') => `models:
  - id: a
    type: simulated
  - id: b
    type: simulated
  - id: c
    type: canary${extra}
    canary:
${canary}
`;

  it('locates unknown, repeated and self-referencing models, and cycles between canaries', () => {
    const unknown = thrown(() =>
      parseConfig(base('      stable: a\n      candidate: bb'), { file: 'c.yaml' }),
    );
    expect(unknown).toMatchObject({
      code: 'unknown_model',
      location: { file: 'c.yaml', path: 'models[2].canary.candidate', line: 10, column: 18 },
    });
    expect(unknown.hint).toMatch(/known models: a, b, c/);
    expect(thrown(() => parseConfig(base('      stable: a\n      candidate: a'))).location).toMatchObject({
      path: 'models[2].canary.candidate',
      line: 10,
    });
    expect(thrown(() => parseConfig(base('      stable: c\n      candidate: a'))).message).toBe(
      'canary "c" names itself as its stable model',
    );
    const cycle = thrown(() =>
      parseConfig(`${base('      stable: d\n      candidate: a')}  - id: d
    type: canary
    canary: { stable: c, candidate: b }
`),
    );
    expect(cycle.message).toBe('canary "c" contains itself: c → d → c');
    expect(cycle.location).toMatchObject({ path: 'models[2].canary.stable', line: 9 });
  });

  it('refuses canary without its spec, provider keys on a canary, a bad state URL and bad test options', () => {
    expect(thrown(() => parseConfig('models:\n  - id: c\n    type: canary\n')).message).toMatch(
      /a canary model needs `canary: \{ stable/,
    );
    expect(
      thrown(() =>
        parseConfig(base('      stable: a\n      candidate: b', '\n    endpoint: http://localhost:1')),
      ).message,
    ).toBe('`endpoint` is not valid for type canary (set it on the stable and candidate models)');
    expect(
      thrown(() => parseConfig(base('      stable: a\n      candidate: b\n      state: ./canary.db')))
        .location,
    ).toMatchObject({ path: 'models[2].canary.state', line: 11 });
    expect(
      thrown(() => parseConfig(base('      stable: a\n      candidate: b\n      share: 0'))).location?.path,
    ).toBe('models[2].canary.share');
    expect(
      thrown(() =>
        parseConfig(
          base('      stable: a\n      candidate: b\n      min_samples: 50\n      max_samples: 10'),
        ),
      ).location?.path,
    ).toBe('models[2].canary.max_samples');
  });

  it('maps to the camelCase spec, the state file relative to the config file', () => {
    const config = parseConfig(
      base(
        '      stable: a\n      candidate: b\n      share: 0.2\n      state: sqlite://state/canary.db\n      alpha: 0.01\n      min_samples: 30',
      ),
      { file: join(dir, 'councils.yaml') },
    );
    expect(config.models[2]).toEqual({
      id: 'c',
      type: 'canary',
      canary: {
        stable: 'a',
        candidate: 'b',
        share: 0.2,
        state: `sqlite://${join(dir, 'state', 'canary.db')}`,
        test: { alpha: 0.01, minSamples: 30 },
      },
    });
  });
});
