/**
 * The recursion engine and the run tree's shared budget, through the public API: sub-agents
 * spawned by the model's `spawn_agent` tool and by skills, one budget for the whole tree, the
 * loop guard, max depth, `trigger_on` with ReAsk / BestSoFar / Escalate / Fail, and limits that
 * end a run with a typed result.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Agent,
  Council,
  councilHash,
  Harness,
  HarnessError,
  RecursionPolicy,
  type RunEvent,
  registerProviderType,
  Skill,
  SqliteJournal,
} from 'forge-harness';
import { ScriptedModel, type ScriptStep } from 'forge-harness/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { thrown } from './harness-errors.ts';

/** Scripted models by registry id, looked up when the harness builds them. */
const scripts = new Map<string, ScriptedModel>();
registerProviderType('scripted-recursion', {
  create: ({ entry }) => {
    const model = scripts.get(entry.id);
    if (!model) throw new Error(`no script for ${entry.id}`);
    return model;
  },
});

function models(steps: Record<string, ScriptStep[]>) {
  return Object.entries(steps).map(([id, s]) => {
    scripts.set(id, new ScriptedModel({ steps: s, modelId: id }));
    return { id, type: 'scripted-recursion' };
  });
}

const use = (inputTokens: number, outputTokens: number) => ({ usage: { inputTokens, outputTokens } });

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'forge-recursion-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('one budget for a run tree', () => {
  it('a sub-agent tree three levels deep exhausts the shared token budget: limit_exceeded names it, usage is the sum over all sub-agents', async () => {
    const spawnCall = (agent: string, input: string) => ({
      toolCalls: [{ toolName: 'spawn_agent', input: { agent, input } }],
      ...use(100, 20),
    });
    const tick = new Skill({ name: 'Tick', description: 'counts', run: () => 'ok' });
    const harness = new Harness({
      journal: false,
      memory: 'memory://',
      skills: [tick],
      models: models({
        root: [spawnCall('L1', 'research the topic')],
        l1: [spawnCall('L2', 'find the sources')],
        l2: [spawnCall('L3', 'read source one')],
        // The deepest agent keeps working (a tool call per step) until the budget stops it.
        l3: Array.from({ length: 20 }, () => ({
          toolCalls: [{ toolName: 'Tick', input: {} }],
          ...use(100, 20),
        })),
      }),
      councils: [
        new Council({
          name: 'Tree',
          limits: { tokens: 1000 },
          agents: [
            new Agent({ name: 'Root', model: 'root', subagents: ['L1'] }),
            new Agent({ name: 'L1', model: 'l1', subagents: ['L2'] }),
            new Agent({ name: 'L2', model: 'l2', subagents: ['L3'] }),
            new Agent({ name: 'L3', model: 'l3', skills: ['Tick'], maxSteps: 20 }),
          ],
        }),
      ],
    });
    const events: RunEvent[] = [];
    const result = await harness.run('Tree', 'write the report', { onEvent: (e) => events.push(e) });

    expect(result.status).toBe('limit_exceeded');
    expect(result.error?.code).toBe('limit_exceeded');
    expect(result.error?.details).toMatchObject({ limit: 'tokens', limitValue: 1000 });
    // Checked before each call: the call that crossed the limit finished, the next one never started.
    const calls = events.filter((e) => e.type === 'model-call-finish');
    const sum = calls.reduce(
      (acc, e) => (e.type === 'model-call-finish' ? acc + e.inputTokens + e.outputTokens : acc),
      0,
    );
    expect(sum).toBe(1080); // 9 calls of 120 tokens: the 9th crossed 1000
    expect(result.usage.inputTokens + result.usage.outputTokens).toBe(sum);
    expect(result.usage.modelCalls).toBe(calls.length);
    expect(result.error?.details.usage).toMatchObject({ modelCalls: 9 });
    // Calls happened at every level of the tree, and events carry the tree path.
    const paths = new Set(calls.map((e) => e.path.join('/')));
    expect(paths).toEqual(new Set(['Tree/Root', 'Tree/Root/L1', 'Tree/Root/L1/L2', 'Tree/Root/L1/L2/L3']));
    const spawns = events.filter((e) => e.type === 'subagent-spawn');
    expect(spawns.map((e) => e.type === 'subagent-spawn' && [e.agent, e.depth])).toEqual([
      ['L1', 1],
      ['L2', 2],
      ['L3', 3],
    ]);
    expect(events.at(-1)?.type).toBe('run-error');
    expect(events.some((e) => e.type === 'limit-exceeded')).toBe(true);
    await harness.stop();
  });

  it('a sub-agent failure comes back to the parent as a typed result; the loop guard refuses an ancestor with the same input', async () => {
    const harness = new Harness({
      journal: false,
      memory: 'memory://',
      models: models({
        // Root asks for itself with its own input: a loop.
        root: [
          { toolCalls: [{ toolName: 'spawn_agent', input: { agent: 'Root', input: 'plan the trip' } }] },
          { text: 'planned without help' },
        ],
      }),
      councils: [
        new Council({
          name: 'Loop',
          agents: [new Agent({ name: 'Root', model: 'root', subagents: ['Root'] })],
        }),
      ],
    });
    const events: RunEvent[] = [];
    const result = await harness.run('Loop', 'plan the trip', { onEvent: (e) => events.push(e) });
    expect(result.status).toBe('succeeded');
    expect(result.output).toBe('planned without help');
    const tool = events.find((e) => e.type === 'tool-call-finish');
    expect(tool?.type === 'tool-call-finish' && tool.output).toMatchObject({
      status: 'failed',
      error: { code: 'recursion_loop' },
    });
    await harness.stop();
  });

  it('refuses a spawn deeper than the recursion policy allows, as a typed result the parent sees', async () => {
    const harness = new Harness({
      journal: false,
      memory: 'memory://',
      models: models({
        a: [
          { toolCalls: [{ toolName: 'spawn_agent', input: { agent: 'B', input: 'go deeper' } }] },
          { text: 'A done' },
        ],
        b: [
          { toolCalls: [{ toolName: 'spawn_agent', input: { agent: 'A', input: 'deeper still' } }] },
          { text: 'B done' },
          { text: 'B on its own turn' },
        ],
      }),
      councils: [
        new Council({
          name: 'Deep',
          recursion: new RecursionPolicy({ maxDepth: 1 }),
          agents: [
            new Agent({ name: 'A', model: 'a', subagents: ['B'] }),
            new Agent({ name: 'B', model: 'b', subagents: ['A'] }),
          ],
        }),
      ],
    });
    const events: RunEvent[] = [];
    const run = harness.run('Deep', 'start', { onEvent: (e) => events.push(e) });
    const result = await run;
    // Pipeline: A (spawns B at depth 1; B's spawn of A at depth 2 is refused), then B itself.
    expect(result.status).toBe('succeeded');
    const refused = events.find(
      (e) => e.type === 'tool-call-finish' && (e.output as { status?: string }).status === 'failed',
    );
    expect(refused?.type === 'tool-call-finish' && refused.output).toMatchObject({
      error: { code: 'limit_exceeded' },
    });
    expect(refused?.path).toEqual(['Deep', 'A', 'B']);
    expect(result.output).toBe('B on its own turn');
    await harness.stop();
  });

  it('a skill spawns a sub-agent through its context; wall-time and model-call limits end the run loudly', async () => {
    const delegate = new Skill({
      name: 'Delegate',
      description: 'asks the helper',
      input: z.object({ question: z.string() }),
      run: async ({ question }, ctx) => ctx.spawn({ agent: 'Helper', input: question }),
    });
    const harness = new Harness({
      journal: false,
      memory: 'memory://',
      skills: [delegate],
      models: models({
        boss: [
          { toolCalls: [{ toolName: 'Delegate', input: { question: 'what is 2+2?' } }] },
          { text: 'the helper says 4' },
        ],
        helper: [{ text: '4' }],
      }),
      councils: [
        new Council({
          name: 'Team',
          agents: [
            new Agent({ name: 'Boss', model: 'boss', skills: ['Delegate'] }),
            new Agent({ name: 'Helper', model: 'helper' }),
          ],
        }),
      ],
    });
    const events: RunEvent[] = [];
    const result = await harness.run('Team', 'compute', {
      onEvent: (e) => events.push(e),
      limits: { modelCalls: 3 },
    });
    expect(result.status).toBe('limit_exceeded');
    expect(result.error?.details).toMatchObject({
      limit: 'modelCalls',
      limitValue: 3,
      partialOutput: 'the helper says 4',
    });
    const tool = events.find((e) => e.type === 'tool-call-finish');
    expect(tool?.type === 'tool-call-finish' && tool.output).toEqual({
      status: 'succeeded',
      agent: 'Helper',
      output: '4',
    });
    await harness.stop();

    const slow = new Harness({
      journal: false,
      memory: 'memory://',
      models: [{ id: 'slow', type: 'simulated', latencyMs: 5_000 }],
      councils: [new Council({ name: 'Slow', agents: [new Agent({ name: 'S', model: 'slow' })] })],
    });
    const timed = await slow.run('Slow', 'take your time', { limits: { wallTimeMs: 100 } });
    expect(timed.status).toBe('limit_exceeded');
    expect(timed.error?.details).toMatchObject({ limit: 'wallTimeMs', limitValue: 100 });
    await slow.stop();
  });

  it('rejects bad limits with the option path', () => {
    const error = thrown(
      () =>
        new Council({ name: 'X', limits: { tokens: -5 }, agents: [new Agent({ name: 'A', model: 'm' })] }),
    );
    expect(error.code).toBe('config_invalid');
    expect(error.location?.path).toBe('Council.limits.tokens');
    const harness = new Harness({
      journal: false,
      memory: 'memory://',
      models: [{ id: 'm', type: 'simulated' }],
    });
    harness.addCouncil(new Council({ name: 'C', agents: [new Agent({ name: 'A', model: 'm' })] }));
    return harness.run('C', 'hi', { limits: { costUsd: 0 } }).then(async (r) => {
      expect(r.status).toBe('failed');
      expect(r.error?.code).toBe('config_invalid');
      expect(r.error?.location?.path).toBe('RunOptions.limits.costUsd');
      await harness.stop();
    });
  });
});

describe('trigger_on and the recursion fallbacks', () => {
  const policy = (fallback: 'ReAsk' | 'Escalate' | 'BestSoFar' | 'Fail', maxDepth = 2) =>
    new RecursionPolicy({ maxDepth, triggerOn: ['confidence < 0.6'], fallback });

  it('ReAsk: asks again with the critique until the trigger clears (confidence from a self-rating)', async () => {
    const harness = new Harness({
      journal: false,
      memory: 'memory://',
      models: models({ w: [{ text: 'Paris?\nConfidence: 0.3' }, { text: 'Paris.\nConfidence: 0.9' }] }),
      councils: [
        new Council({
          name: 'Q',
          recursion: policy('ReAsk'),
          agents: [new Agent({ name: 'W', model: 'w' })],
        }),
      ],
    });
    const events: RunEvent[] = [];
    const result = await harness.run('Q', 'capital of France?', { onEvent: (e) => events.push(e) });
    expect(result.status).toBe('succeeded');
    expect(result.output).toBe('Paris.');
    const decision = events.find((e) => e.type === 'decision');
    expect(decision).toMatchObject({ kind: 'trigger', chosen: 'ReAsk' });
    expect(decision?.type === 'decision' && decision.reason).toContain('confidence=0.3');
    // The self-rating instruction reached the model, and the re-ask carried the critique.
    const w = scripts.get('w');
    expect(JSON.stringify(w?.calls[0]?.prompt)).toContain('Confidence:');
    expect(JSON.stringify(w?.calls[1]?.prompt)).toContain('Your previous answer was');
    expect(events.find((e) => e.type === 'subagent-spawn')?.path).toEqual(['Q', 'W']);
    await harness.stop();
  });

  it('BestSoFar keeps the most confident answer when depth runs out; Fail ends with trigger_failed; Escalate uses the stronger model', async () => {
    const best = new Harness({
      journal: false,
      memory: 'memory://',
      models: models({
        b: [
          { text: 'one\nConfidence: 0.5' },
          { text: 'two\nConfidence: 0.2' },
          { text: 'three\nConfidence: 0.1' },
        ],
      }),
      councils: [
        new Council({
          name: 'B',
          recursion: policy('BestSoFar'),
          agents: [new Agent({ name: 'A', model: 'b' })],
        }),
      ],
    });
    const r1 = await best.run('B', 'guess');
    expect(r1.status).toBe('succeeded');
    expect(r1.output).toBe('one');
    await best.stop();

    const fail = new Harness({
      journal: false,
      memory: 'memory://',
      models: models({ f: [{ text: 'unsure\nConfidence: 0.1' }] }),
      councils: [
        new Council({ name: 'F', recursion: policy('Fail'), agents: [new Agent({ name: 'A', model: 'f' })] }),
      ],
    });
    const r2 = await fail.run('F', 'guess');
    expect(r2.status).toBe('failed');
    expect(r2.error?.code).toBe('trigger_failed');
    expect(r2.error?.details).toMatchObject({ trigger: 'confidence < 0.6', partialOutput: 'unsure' });
    await fail.stop();

    const escalate = new Harness({
      journal: false,
      memory: 'memory://',
      models: models({
        small: [{ text: 'maybe\nConfidence: 0.2' }],
        big: [{ text: 'surely\nConfidence: 0.95' }],
      }),
      councils: [
        new Council({
          name: 'E',
          recursion: policy('Escalate'),
          agents: [new Agent({ name: 'A', model: 'small', escalateTo: 'big' })],
        }),
      ],
    });
    const r3 = await escalate.run('E', 'guess');
    expect(r3.status).toBe('succeeded');
    expect(r3.output).toBe('surely');
    expect(r3.agents.at(-1)?.model).toBe('big');
    await escalate.stop();
  });
});

describe('abort is terminal and journaled', () => {
  it('an aborted run is final in the journal and cannot be resumed', async () => {
    const journal = new SqliteJournal(join(dir, 'abort.db'));
    const harness = new Harness({
      journal,
      memory: 'memory://',
      models: [{ id: 'slow', type: 'simulated', latencyMs: 5_000 }],
      councils: [new Council({ name: 'S', agents: [new Agent({ name: 'A', model: 'slow' })] })],
    });
    const controller = new AbortController();
    const run = harness.run('S', 'wait', { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const result = await run;
    expect(result.status).toBe('aborted');
    expect(journal.getRun(result.runId)?.status).toBe('aborted');
    const resumed = await harness.resume(result.runId);
    expect(resumed.status).toBe('failed');
    expect(resumed.error?.code).toBe('resume_invalid');
    await harness.stop();
    journal.close();
  });
});

describe('YAML: limits, sub-agents, escalation and trigger_on', () => {
  const yaml = `
models:
  - id: sim
    type: simulated
    rules:
      - when: "previous answer"
        reply: "Better answer.\\nConfidence: 0.9"
      - when: "."
        reply: "Rough answer.\\nConfidence: 0.2"
councils:
  - name: Q
    recursion: { max_depth: 2, trigger_on: ["confidence < 0.6"], fallback: ReAsk }
    limits: { tokens: 100000, model_calls: 10, cost_usd: 5, wall_time_ms: 60000, depth: 3 }
    agents:
      - name: W
        model: sim
        subagents: [Helper]
        escalate_to: sim
        confidence: self_rating
      - name: Helper
        model: sim
`;

  it('maps every key and runs the trigger loop', async () => {
    const harness = Harness.fromYaml(yaml, { journal: false, memory: 'memory://' });
    const council = harness.council('Q');
    expect(council.limits).toEqual({
      tokens: 100000,
      modelCalls: 10,
      costUsd: 5,
      wallTimeMs: 60000,
      depth: 3,
    });
    expect(council.agents[0]?.spec).toMatchObject({
      subagents: ['Helper'],
      escalateTo: 'sim',
      confidence: 'self_rating',
    });
    const result = await harness.run('Q', 'Explain tides.');
    expect(result.status).toBe('succeeded');
    expect(result.output).toBe('Better answer.');
    await harness.stop();
  });

  it('points at an unknown sub-agent, escalation model and a bad limit with file, line and path', () => {
    const bad = (text: string) => thrown(() => Harness.fromYaml(text, { file: 'c.yaml', journal: false }));
    const e1 = bad(yaml.replace('subagents: [Helper]', 'subagents: [Helpr]'));
    expect(e1.code).toBe('config_invalid');
    expect(e1.location).toMatchObject({
      file: 'c.yaml',
      line: 17,
      path: 'councils[0].agents[0].subagents[0]',
    });
    expect(e1.message).toContain('did you mean "Helper"');
    const e2 = bad(yaml.replace('escalate_to: sim', 'escalate_to: simm'));
    expect(e2.code).toBe('unknown_model');
    expect(e2.location?.path).toBe('councils[0].agents[0].escalate_to');
    const e3 = bad(yaml.replace('model_calls: 10', 'model_calls: -1'));
    expect(e3.code).toBe('config_invalid');
    expect(e3.location?.path).toBe('councils[0].limits.model_calls');
  });
});

describe('malformed tool arguments', () => {
  const lookup = new Skill({
    name: 'Lookup',
    description: 'looks an order up',
    input: z.object({ orderId: z.string().regex(/^\d+$/) }),
    run: ({ orderId }) => `order ${orderId}: shipped`,
  });
  const bad = { toolCalls: [{ toolName: 'Lookup', input: { orderId: 'four-four' } }] };

  it('go back to the model as a validation message; the run recovers', async () => {
    const harness = new Harness({
      journal: false,
      memory: 'memory://',
      skills: [lookup],
      models: models({
        t: [
          bad,
          bad,
          { toolCalls: [{ toolName: 'Lookup', input: { orderId: '44' } }] },
          { text: 'Shipped.' },
        ],
      }),
      councils: [
        new Council({ name: 'S', agents: [new Agent({ name: 'A', model: 't', skills: ['Lookup'] })] }),
      ],
    });
    const events: RunEvent[] = [];
    const result = await harness.run('S', 'where is 44?', { onEvent: (e) => events.push(e) });
    expect(result.status).toBe('succeeded');
    expect(events.filter((e) => e.type === 'tool-call-error')).toHaveLength(2);
    // The model saw why: the validation message is in its next prompt.
    expect(JSON.stringify(scripts.get('t')?.calls[1]?.prompt)).toContain('orderId');
    await harness.stop();
  });

  it('end the turn with skill_input_invalid after three, and the journal keeps every event', async () => {
    const journal = new SqliteJournal(join(dir, 'invalid.db'));
    const harness = new Harness({
      journal,
      memory: 'memory://',
      skills: [lookup],
      models: models({ t2: [bad, bad, bad, bad, { text: 'never' }] }),
      councils: [
        new Council({
          name: 'S',
          agents: [new Agent({ name: 'A', model: 't2', skills: ['Lookup'], maxSteps: 10 })],
        }),
      ],
    });
    const run = harness.run('S', 'where is it?');
    const result = await run;
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('skill_input_invalid');
    expect(result.error?.details).toMatchObject({ tool: 'Lookup', invalidCalls: 4, limit: 3 });
    const journaled = journal.events(result.runId).map((e) => e.type);
    expect(journaled).toEqual(run.events.filter((e) => e.type !== 'token-delta').map((e) => e.type));
    expect(journal.getRun(result.runId)?.status).toBe('failed');
    await harness.stop();
    journal.close();
  });
});

describe('resume checks', () => {
  it('refuses a run whose council changed without touching it, and resumes an unchanged one', async () => {
    const journal = new SqliteJournal(join(dir, 'resume.db'));
    const harness = new Harness({
      journal,
      memory: 'memory://',
      models: [{ id: 'm', type: 'simulated', rules: [{ when: '.', reply: 'done: {{input}}' }] }],
      councils: [new Council({ name: 'C', agents: [new Agent({ name: 'A', model: 'm' })] })],
    });
    const base = { council: 'C', input: 'hello', tenant: 'default', options: {} };
    journal.createRun({ ...base, runId: 'run_stale', councilHash: 'another-council' });
    const refused = await harness.resume('run_stale');
    expect(refused.error?.code).toBe('resume_invalid');
    expect(journal.getRun('run_stale')).toMatchObject({ status: 'running', attempts: 1 });

    journal.createRun({ ...base, runId: 'run_same', councilHash: councilHash(harness.council('C')) });
    const resumed = await harness.resume('run_same');
    expect(resumed.status).toBe('succeeded');
    expect(resumed.output).toBe('done: hello');
    expect(journal.getRun('run_same')).toMatchObject({ status: 'succeeded', attempts: 2 });
    const unknown = await harness.resume('run_nope');
    expect(unknown.error?.code).toBe('unknown_run');
    await harness.stop();
    journal.close();
  });
});

describe('non-streaming turns (RunOptions.stream: false)', () => {
  const lookup = new Skill({
    name: 'Lookup',
    description: 'looks an order up',
    input: z.object({ orderId: z.string().regex(/^\d+$/) }),
    run: ({ orderId }) => `order ${orderId}: shipped`,
  });
  const steps = (): ScriptStep[] => [
    { toolCalls: [{ toolName: 'Lookup', input: { orderId: 'x' } }] },
    { toolCalls: [{ toolName: 'Lookup', input: { orderId: '7' } }] },
    { toolCalls: [{ toolName: 'spawn_agent', input: { agent: 'Helper', input: 'say hi' } }] },
    { text: 'Order 7 shipped.' },
  ];
  const build = (id: string) =>
    new Harness({
      journal: false,
      memory: 'memory://',
      skills: [lookup],
      models: models({ [id]: steps(), [`${id}-helper`]: [{ text: 'hi' }] }),
      councils: [
        new Council({
          name: 'S',
          agents: [
            new Agent({ name: 'A', model: id, skills: ['Lookup'], subagents: ['Helper'] }),
            new Agent({ name: 'Helper', model: `${id}-helper` }),
          ],
        }),
      ],
    });

  it('emit the same events as streaming ones, without token deltas, with the same result', async () => {
    const streamed: RunEvent[] = [];
    const a = build('s1');
    const r1 = await a.run('S', 'where is 7?', { onEvent: (e) => streamed.push(e) });
    const plain: RunEvent[] = [];
    const b = build('s2');
    const r2 = await b.run('S', 'where is 7?', { onEvent: (e) => plain.push(e), stream: false });
    // Helper's script has one answer: used as a sub-agent; its own pipeline step then fails the same way in both.
    expect(r2.status).toBe(r1.status);
    expect(r2.agents.map((x) => x.output)).toEqual(r1.agents.map((x) => x.output));
    const types = (events: RunEvent[]) =>
      events.filter((e) => e.type !== 'token-delta').map((e) => `${e.path.join('/')}:${e.type}`);
    // The same events; the order within a step differs: a stream's model call finishes after the
    // tools it asked for ran (its finish part comes last), a plain call finishes before them. A
    // call refused before any output has a step-start only when not streaming.
    const same = (events: RunEvent[]) =>
      types(events)
        .filter((t) => !t.endsWith(':step-start'))
        .sort();
    expect(same(plain)).toEqual(same(streamed));
    const order = types(plain);
    expect(order.indexOf('S/A:tool-call-start')).toBeGreaterThan(order.indexOf('S/A:model-call-finish'));
    expect(plain.some((e) => e.type === 'token-delta')).toBe(false);
    expect(plain.filter((e) => e.type === 'tool-call-error')).toHaveLength(1);
    await a.stop();
    await b.stop();
  });
});

describe('a journal that fails', () => {
  it('never makes a run reject: the result carries journal_error', async () => {
    const inner = new SqliteJournal(join(dir, 'failing.db'));
    const failing = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'finishRun') {
          return () => {
            throw new HarnessError('journal_error', 'disk full');
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const harness = new Harness({
      journal: failing,
      memory: 'memory://',
      models: [{ id: 'm', type: 'simulated' }],
      councils: [new Council({ name: 'C', agents: [new Agent({ name: 'A', model: 'm' })] })],
    });
    const result = await harness.run('C', 'hello');
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('journal_error');
    await harness.stop();
    inner.close();
  });
});
