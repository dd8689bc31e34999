// Self-patching skills through a real Harness council: an order lookup whose id regex rejects ids
// with a letter prefix ("AB-1001") ships a patch for exactly that failure. The first failure puts
// the patch on trial as a canary; a patch that heals is promoted (and still runs after a restart),
// one that does not is rolled back and never tried again.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HarnessError } from '../errors.ts';
import { CanaryController, seededRandom } from '../learning/canary.ts';
import { registerProviderType } from '../models/providers.ts';
import type { RunEvent } from '../runtime/events.ts';
import { Harness } from '../runtime/harness.ts';
import { Skill, type SkillContext } from '../runtime/skill.ts';
import { ScriptedModel, type ScriptStep } from '../testing/scripted-model.ts';
import {
  compareVersions,
  describeSignature,
  matchesSignature,
  type SkillPatch,
  withPatches,
} from './patches.ts';

let scripted = new ScriptedModel({ steps: [{ text: 'unused' }] });
registerProviderType('scripted-patches', { create: () => scripted });

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'forge-patches-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const input = z.object({ id: z.string() });
type Order = { id: string; status: string };

/** The bug: only digits pass, so "AB-1001" is refused. */
function lookupV1({ id }: { id: string }): Order {
  if (!/^\d+$/.test(id)) throw new HarnessError('skill_failed', `invalid order id "${id}"`);
  return { id, status: 'shipped' };
}

const goodPatch: SkillPatch<{ id: string }, Order> = {
  version: '1.0.1',
  fixes: { code: 'skill_failed', message: /invalid order id/ },
  description: 'accept a letter prefix such as AB-',
  run: ({ id }) => {
    if (!/^(?:[A-Z]{1,3}-)?\d+$/.test(id)) throw new HarnessError('skill_failed', `invalid order id "${id}"`);
    return { id, status: 'shipped' };
  },
};

const badPatch: SkillPatch<{ id: string }, Order> = {
  version: '1.0.1',
  fixes: { code: 'skill_failed', message: 'invalid order id' },
  // Still wrong: lower-case prefixes only.
  run: ({ id }) => {
    if (!/^(?:[a-z]{1,3}-)?\d+$/.test(id)) throw new HarnessError('skill_failed', `invalid order id "${id}"`);
    return { id, status: 'shipped' };
  },
};

function lookupSkill(patch: SkillPatch<{ id: string }, Order>, controller: CanaryController) {
  return new Skill({
    name: 'lookup_order',
    description: 'Looks an order up by its id.',
    version: '1.0.0',
    input,
    output: z.object({ id: z.string(), status: z.string() }),
    run: lookupV1,
    patches: [patch],
    // A seeded draw per call instead of the run's random ids, so the test replays exactly.
    patching: { controller, share: 0.5, test: { minSamples: 5 }, key: () => undefined },
  });
}

/** A council whose model looks order `id` up once per run, then answers. */
function harness(skill: Skill<{ id: string }, Order>, runs: number, id = 'AB-1001') {
  const steps: ScriptStep[] = [];
  for (let i = 0; i < runs; i++) {
    steps.push({ toolCalls: [{ toolName: 'lookup_order', input: { id } }] }, { text: 'done' });
  }
  scripted = new ScriptedModel({ steps });
  return new Harness({
    models: [{ id: 'm', type: 'scripted-patches' }],
    councils: [{ name: 'Orders', agents: [{ name: 'Clerk', model: 'm', skills: ['lookup_order'] }] }],
    skills: [skill],
    memory: 'memory://',
    journal: false,
  });
}

/** Runs until a canary-decision event (at most `max` runs); every event of every run. */
async function runUntilDecided(h: Harness, max: number) {
  const events: RunEvent[] = [];
  h.subscribe((event) => events.push(event));
  let runs = 0;
  while (runs < max && !events.some((e) => e.type === 'canary-decision')) {
    const result = await h.run('Orders', 'Where is my order?');
    expect(result.status).toBe('succeeded');
    runs++;
  }
  return { events, runs };
}

const toolOutcomes = (events: RunEvent[]) =>
  events.flatMap((e) =>
    e.type === 'tool-call-finish' ? ['ok'] : e.type === 'tool-call-error' ? [e.error.code] : [],
  );

describe('self-patching skills in a council', () => {
  it('a failing call puts the patch on trial; it heals the failures and is promoted, and a restart keeps it', async () => {
    const path = join(dir, 'canary.db');
    const controller = new CanaryController({ path, random: seededRandom(11) });
    const h = harness(lookupSkill(goodPatch, controller), 200);
    const { events, runs } = await runUntilDecided(h, 100);

    // The first run: the bug, and the patch applied as a canary in the same run.
    const first = events.filter((e) => e.runId === events[0]?.runId);
    expect(first.map((e) => e.type)).toContain('patch-applied');
    expect(first.find((e) => e.type === 'tool-call-error')).toMatchObject({
      error: { code: 'skill_failed', message: 'invalid order id "AB-1001"' },
    });
    expect(first.find((e) => e.type === 'patch-applied')).toMatchObject({
      path: ['Orders', 'Clerk'],
      skill: 'lookup_order',
      version: '1.0.1',
      signature: 'skill_failed /invalid order id/',
    });
    expect(events.filter((e) => e.type === 'patch-applied')).toHaveLength(1);
    // During the trial both versions run: failures (1.0.0) and successes (1.0.1).
    const outcomes = toolOutcomes(events);
    expect(outcomes).toContain('ok');
    expect(outcomes).toContain('skill_failed');
    const decision = events.find((e) => e.type === 'canary-decision');
    expect(decision).toMatchObject({
      subject: 'patch:lookup_order',
      decision: 'promote',
      stable: '1.0.0',
      candidate: '1.0.1',
      reason: expect.stringMatching(/^heals the failures/),
    });
    expect(runs).toBeLessThan(60);

    // Promoted: every call runs the patch.
    const after: RunEvent[] = [];
    const stop = h.subscribe((e) => after.push(e));
    for (let i = 0; i < 10; i++) await h.run('Orders', 'Where is my order?');
    stop();
    expect(toolOutcomes(after)).toEqual(Array(10).fill('ok'));
    await h.stop();
    controller.close();

    // A restart: a new harness, a new skill object, a new controller on the same file.
    const restarted = new CanaryController({ path });
    const h2 = harness(lookupSkill(goodPatch, restarted), 5);
    const again: RunEvent[] = [];
    h2.subscribe((e) => again.push(e));
    for (let i = 0; i < 5; i++) await h2.run('Orders', 'Where is my order?');
    expect(toolOutcomes(again)).toEqual(Array(5).fill('ok'));
    expect(again.some((e) => e.type === 'patch-applied')).toBe(false);
    await h2.stop();
    restarted.close();
  });

  it('a patch that does not heal the failures is rolled back and never tried again', async () => {
    const path = join(dir, 'canary.db');
    const controller = new CanaryController({ path, random: seededRandom(5) });
    const h = harness(lookupSkill(badPatch, controller), 300);
    const { events } = await runUntilDecided(h, 120);
    expect(events.find((e) => e.type === 'canary-decision')).toMatchObject({
      subject: 'patch:lookup_order',
      decision: 'rollback',
      candidate: '1.0.1',
      reason: expect.stringMatching(/^does not heal the failures/),
    });
    expect(controller.state('patch:lookup_order')).toMatchObject({ status: 'rolled-back', active: '1.0.0' });
    // Failing as before, and the rolled-back patch is not applied again.
    const after: RunEvent[] = [];
    h.subscribe((e) => after.push(e));
    for (let i = 0; i < 5; i++) await h.run('Orders', 'Where is my order?');
    expect(toolOutcomes(after)).toEqual(Array(5).fill('skill_failed'));
    expect(after.some((e) => e.type === 'patch-applied')).toBe(false);
    await h.stop();
    controller.close();
  });

  it('failures the patch does not name, and ids that work, leave the skill alone', async () => {
    const controller = new CanaryController();
    const h = harness(lookupSkill(goodPatch, controller), 3, '1001');
    const events: RunEvent[] = [];
    h.subscribe((e) => events.push(e));
    for (let i = 0; i < 3; i++) await h.run('Orders', 'Where is my order?');
    expect(toolOutcomes(events)).toEqual(['ok', 'ok', 'ok']);
    expect(controller.list()).toEqual([]);
    await h.stop();

    const other = new Skill({
      name: 'lookup_order',
      description: 'Looks an order up by its id.',
      input,
      run: (): Order => {
        throw new HarnessError('skill_failed', 'database down');
      },
      patches: [goodPatch],
      patching: { controller },
    });
    const h2 = harness(other as never, 2);
    await h2.run('Orders', 'Where is my order?');
    expect(controller.list()).toEqual([]);
    await h2.stop();
  });
});

describe('withPatches', () => {
  const context = (events: unknown[]) =>
    ({
      idempotencyKey: 'k',
      signal: new AbortController().signal,
      emit: (e: unknown) => events.push(e),
    }) as never as SkillContext;

  it('wraps any skill; version is the active one; patch results pass the output schema', async () => {
    const controller = new CanaryController({ random: seededRandom(1) });
    const base = new Skill({
      name: 'parse',
      description: 'parses',
      version: '2.0.0',
      output: z.object({ n: z.number() }),
      run: (): { n: number } => {
        throw new Error('unexpected token');
      },
    });
    const patched = withPatches(
      base,
      [{ version: '2.0.1', fixes: { message: 'unexpected token' }, run: () => ({ n: 'x' }) as never }],
      { controller, share: 1, test: { minSamples: 3 }, key: () => undefined },
    );
    expect(patched).toMatchObject({ name: 'parse', version: '2.0.0', subject: 'patch:parse' });
    const events: unknown[] = [];
    // A plain Error counts as skill_failed; the patch goes on trial for every call (share 1).
    await expect(Promise.resolve(patched.run({} as never, context(events)))).rejects.toThrow(
      'unexpected token',
    );
    expect(events).toMatchObject([
      { type: 'patch-applied', skill: 'parse', version: '2.0.1', signature: '* "unexpected token"' },
    ]);
    // The patch returns a string where a number belongs: the output check refuses it.
    await expect(Promise.resolve(patched.run({} as never, context(events)))).rejects.toMatchObject({
      code: 'skill_failed',
      message: expect.stringMatching(/output schema/),
    });
  });

  it('concurrent failures put the patch on trial once; each counts against the failing version', async () => {
    const controller = new CanaryController({ random: seededRandom(2) });
    const base = new Skill({
      name: 'slow',
      description: 'fails after a while',
      run: async (): Promise<number> => {
        await new Promise((resolve) => setImmediate(resolve));
        throw new HarnessError('skill_failed', 'bad input');
      },
    });
    const patched = withPatches(base, [{ version: '1.0.1', fixes: { message: 'bad input' }, run: () => 1 }], {
      controller,
      test: { minSamples: 50 },
    });
    const events: unknown[] = [];
    const results = await Promise.allSettled(
      [1, 2, 3].map(() => Promise.resolve(patched.run({} as never, context(events)))),
    );
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(events.filter((e) => (e as { type: string }).type === 'patch-applied')).toHaveLength(1);
    expect(controller.state('patch:slow')?.stats.stable).toMatchObject({ calls: 3, errors: 3 });
  });

  it('refuses patches that are not newer, repeat a version, or name no failure', () => {
    const base = new Skill({ name: 's', description: 'd', version: '1.2.0', run: () => 1 });
    const at = (patches: SkillPatch[]) => {
      try {
        withPatches(base, patches);
      } catch (error) {
        return (error as HarnessError).location?.path;
      }
      return undefined;
    };
    expect(at([{ version: '1.1.9', fixes: { code: 'x' }, run: () => 1 }])).toBe(
      'withPatches(s).patches[0].version',
    );
    expect(
      at([
        { version: '1.2.1', fixes: { code: 'x' }, run: () => 1 },
        { version: '1.2.1', fixes: { code: 'y' }, run: () => 1 },
      ]),
    ).toBe('withPatches(s).patches[1].version');
    expect(at([{ version: '1.3.0', fixes: {}, run: () => 1 }])).toBe('withPatches(s).patches[0].fixes');
    expect(
      () =>
        new Skill({
          name: 's',
          description: 'd',
          run: () => 1,
          patches: [{ version: '1.0.0', fixes: { code: 'x' }, run: () => 1 }],
        }),
    ).toThrow(/Skill\(s\)\.patches\[0\]\.version/);
  });
});

describe('signatures and versions', () => {
  const error = new HarnessError('skill_failed', 'invalid order id "AB-1"');
  it('match on code and message (RegExp or substring); a global RegExp does not keep state', () => {
    expect(matchesSignature({ code: 'skill_failed' }, error)).toBe(true);
    expect(matchesSignature({ code: 'mcp_error' }, error)).toBe(false);
    expect(matchesSignature({ message: 'order id' }, error)).toBe(true);
    expect(matchesSignature({ code: 'skill_failed', message: /^invalid/ }, error)).toBe(true);
    expect(matchesSignature({ code: 'skill_failed', message: /^valid/ }, error)).toBe(false);
    const global = /order/g;
    expect([
      matchesSignature({ message: global }, error),
      matchesSignature({ message: global }, error),
    ]).toEqual([true, true]);
    expect(describeSignature({ code: 'skill_failed', message: /x/i })).toBe('skill_failed /x/i');
  });

  it('order semantic versions', () => {
    expect(compareVersions('1.0.10', '1.0.9')).toBe(1);
    expect(compareVersions('1.0.0-rc.1', '1.0.0')).toBe(-1);
    expect(compareVersions('v2.0.0', '1.9.9')).toBe(1);
    expect(compareVersions('1.0.0', '1.0.0')).toBe(0);
  });
});
