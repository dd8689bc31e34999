// Every council strategy through Harness.run, from YAML (examples/strategies.yaml) and from TS:
// outputs, decision events, parallelism read from the order of events, a vote's early finish,
// failures, and dependency cycles at load and in the Council constructor.
import { fileURLToPath } from 'node:url';
import { Agent, Council, Harness, type ModelEntry, type RunEvent, type RunResult } from 'forge-harness';
import { FakeProviderServer } from 'forge-harness/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { thrown } from './harness-errors.ts';

const examplePath = fileURLToPath(new URL('../examples/strategies.yaml', import.meta.url));

async function run(
  harness: Harness,
  council: string | Council,
  input: string,
): Promise<{ result: RunResult; events: RunEvent[] }> {
  const events: RunEvent[] = [];
  const result = await harness.run(council, input, { onEvent: (event) => events.push(event) });
  return { result, events };
}

/** Position of the first event of `type` for `agent` (-1 when there is none). */
function indexOf(events: readonly RunEvent[], type: RunEvent['type'], agent: string): number {
  return events.findIndex((e) => e.type === type && 'agent' in e && e.agent === agent);
}

function agentEvents<T extends 'agent-start' | 'agent-finish' | 'agent-error'>(
  events: readonly RunEvent[],
  type: T,
): Array<Extract<RunEvent, { type: T }>> {
  return events.filter((e): e is Extract<RunEvent, { type: T }> => e.type === type);
}

function decisions(events: readonly RunEvent[]): Array<Extract<RunEvent, { type: 'decision' }>> {
  return events.filter((e): e is Extract<RunEvent, { type: 'decision' }> => e.type === 'decision');
}

/** A simulated model that always answers `reply` (after `latencyMs`). */
function scripted(id: string, reply: string, latencyMs = 0): ModelEntry {
  return { id, type: 'simulated', rules: [{ when: '.', reply }], ...(latencyMs ? { latencyMs } : {}) };
}

describe('strategies from YAML (examples/strategies.yaml)', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await Harness.fromFile(examplePath, { memory: 'memory://', journal: false });
  });
  afterAll(() => harness.stop());

  it('parallel: the analysts run at the same time, then the editor merges their labelled outputs', async () => {
    const { result, events } = await run(harness, 'Research', 'Where should we invest?');
    expect(result.error?.format()).toBeUndefined();
    expect(result.output).toBe('Demand is growing; secure battery supply first.');
    // Both analysts started before either finished.
    const firstFinish = Math.min(
      indexOf(events, 'agent-finish', 'Market'),
      indexOf(events, 'agent-finish', 'Risks'),
    );
    expect(indexOf(events, 'agent-start', 'Market')).toBeLessThan(firstFinish);
    expect(indexOf(events, 'agent-start', 'Risks')).toBeLessThan(firstFinish);
    const editor = agentEvents(events, 'agent-start').find((e) => e.agent === 'Editor');
    expect(editor?.input).toBe(
      'Where should we invest?\n\n[Market] Demand for e-bikes grew 12% last year.\n\n[Risks] Battery supply is the main risk.',
    );
    expect(decisions(events)).toEqual([
      expect.objectContaining({
        kind: 'merge',
        chosen: 'Editor',
        reason: 'Editor merges the outputs of 2 agents',
        path: ['Research'],
      }),
    ]);
  });

  it('vote: a quorum of two normalized answers ends the vote and cancels the slow voter', async () => {
    const { result, events } = await run(harness, 'Capital', 'Capital of France?');
    expect(result.status).toBe('succeeded');
    expect(result.output).toBe('Paris.');
    expect(result.confidence).toBeCloseTo(2 / 3);
    // The slow voter was cancelled, not waited for (its model would take 5 s).
    expect(indexOf(events, 'agent-finish', 'Slowpoke')).toBe(-1);
    expect(agentEvents(events, 'agent-error').find((e) => e.agent === 'Slowpoke')?.error.code).toBe(
      'aborted',
    );
    const [vote] = decisions(events);
    expect(vote).toMatchObject({
      kind: 'vote',
      chosen: 'Paris.',
      reason: 'quorum 2 reached by Atlas, Baedeker; 1 voter cancelled',
      detail: {
        rule: 'normalized',
        quorum: 2,
        cancelled: ['Slowpoke'],
        votes: { Atlas: 'Paris.', Baedeker: 'paris' },
      },
    });
    // The cancelled voter stopped before the decision: nothing of the vote happens after it.
    expect(events.indexOf(vote as RunEvent)).toBeGreaterThan(indexOf(events, 'agent-error', 'Slowpoke'));
    expect(result.usage.modelCalls).toBe(2);
  });

  it('debate: two rounds, each debater sees the other’s previous answer, the judge answers', async () => {
    const { result, events } = await run(harness, 'Style', 'Tabs or spaces?');
    expect(result.output).toBe('Spaces: consistent rendering outweighs keypresses.');
    const starts = agentEvents(events, 'agent-start');
    expect(starts.map((e) => e.agent)).toEqual(['Pro', 'Con', 'Pro', 'Con', 'Judge']);
    expect(starts[2]?.input).toContain(
      'Debate round 2 of 2. Your previous answer:\nTabs: one keypress per level.',
    );
    expect(starts[2]?.input).toContain('[Con] Spaces: code looks the same everywhere.');
    expect(starts[4]?.input).toContain('Round 2:\n\n[Pro] Tabs still:');
    expect(decisions(events)).toEqual([
      expect.objectContaining({
        kind: 'judge',
        chosen: 'Spaces: consistent rendering outweighs keypresses.',
        reason: 'Judge gave the final answer after 2 rounds of 2 debaters',
      }),
    ]);
  });

  it('router: a rule routes, else the model picks by name, else the default answers', async () => {
    const refund = await run(harness, 'Support', 'I want a REFUND please');
    expect(refund.result.output).toBe('Refunds reach your card within 5 business days.');
    expect(agentEvents(refund.events, 'agent-start').map((e) => e.agent)).toEqual(['Billing']);
    expect(decisions(refund.events)[0]).toMatchObject({
      kind: 'route',
      chosen: 'Billing',
      detail: { by: 'rule', route: 0 },
    });

    const password = await run(harness, 'Support', 'I forgot my password');
    expect(password.result.output).toBe('Reset your password from the sign-in page.');
    expect(agentEvents(password.events, 'agent-start').map((e) => [e.agent, e.model])).toEqual([
      ['(router)', 'triage'],
      ['Account', 'account'],
    ]);
    expect(decisions(password.events)[0]).toMatchObject({
      kind: 'route',
      chosen: 'Account',
      reason: 'no route matched; the router model triage picked Account',
    });

    const hello = await run(harness, 'Support', 'Hello there');
    expect(hello.result.output).toBe('Happy to help: tell me a bit more.');
    expect(decisions(hello.events)[0]).toMatchObject({
      chosen: 'General',
      detail: { by: 'default', reply: 'Not sure.' },
    });
  });

  it('graph: independent agents overlap, a dependent waits for its dependencies and gets their outputs', async () => {
    const { result, events } = await run(harness, 'Article', 'Write about the bridge');
    expect(result.output).toBe('Approved: Opened in 1932, the bridge still carries the city.');
    const facts = {
      start: indexOf(events, 'agent-start', 'Facts'),
      finish: indexOf(events, 'agent-finish', 'Facts'),
    };
    const style = {
      start: indexOf(events, 'agent-start', 'Style'),
      finish: indexOf(events, 'agent-finish', 'Style'),
    };
    // Facts and Style overlap: each starts before the other finishes.
    expect(facts.start).toBeLessThan(style.finish);
    expect(style.start).toBeLessThan(facts.finish);
    // Writer starts only after both, Review only after Writer.
    expect(indexOf(events, 'agent-start', 'Writer')).toBeGreaterThan(Math.max(facts.finish, style.finish));
    expect(indexOf(events, 'agent-start', 'Review')).toBeGreaterThan(
      indexOf(events, 'agent-finish', 'Writer'),
    );
    expect(agentEvents(events, 'agent-start').find((e) => e.agent === 'Writer')?.input).toBe(
      'Write about the bridge\n\n[Facts] Fact: the bridge opened in 1932.\n\n[Style] Style: short, friendly sentences.',
    );
    expect(decisions(events)).toEqual([
      expect.objectContaining({
        kind: 'graph',
        chosen: 'Review',
        detail: { levels: [['Facts', 'Style'], ['Writer'], ['Review']] },
      }),
    ]);
  });
});

describe('strategies from TS', () => {
  let fake: FakeProviderServer;
  let harness: Harness;
  beforeAll(async () => {
    fake = await FakeProviderServer.start();
    harness = new Harness({
      memory: 'memory://',
      journal: false,
      retry: { maxRetries: 0 },
      models: [
        scripted('yes', '42'),
        scripted('also-yes', ' 42 '),
        scripted('no', '41'),
        scripted('slow', 'too late', 5_000),
        scripted('fast', 'fast'),
        scripted('chain', 'after fast'),
        scripted('picker', 'I would pick Refunds.'),
        scripted('refunds', 'Refund issued.'),
        scripted('other', 'Something else.'),
        { id: 'broken', type: 'openai-compatible', endpoint: fake.baseUrl('openai-compatible'), apiKey: 'k' },
      ],
    });
  });
  afterAll(async () => {
    await harness.stop();
    await fake.close();
  });

  it('parallel without a merge agent joins the outputs in agent order', async () => {
    const council = new Council({
      name: 'Fan',
      strategy: 'parallel',
      agents: [new Agent({ name: 'B', model: 'no' }), new Agent({ name: 'A', model: 'yes' })],
    });
    const { result, events } = await run(harness, council, 'Q');
    expect(result.output).toBe('[B] 41\n\n[A] 42');
    expect(decisions(events)[0]).toMatchObject({ kind: 'merge', chosen: 'join' });
  });

  it('parallel: a failing agent fails the run, names the agent and cancels its siblings', async () => {
    fake.injectFault({ status: 400, match: { model: 'broken' } });
    const council = new Council({
      name: 'Fan',
      strategy: 'parallel',
      agents: [new Agent({ name: 'Slow', model: 'slow' }), new Agent({ name: 'Broken', model: 'broken' })],
    });
    const { result, events } = await run(harness, council, 'Q');
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('provider_error');
    expect(result.error?.message).toMatch(/^agent "Broken" failed: /);
    expect(result.error?.details.agent).toBe('Broken');
    expect(agentEvents(events, 'agent-error').find((e) => e.agent === 'Slow')?.error.code).toBe('aborted');
  });

  it('vote: weights count, and the quorum ends the vote without waiting for the slow voter', async () => {
    const council = new Council({
      name: 'Vote',
      strategy: 'vote',
      vote: { quorum: 3 },
      agents: [
        { name: 'Senior', model: 'yes', weight: 2 },
        { name: 'Junior', model: 'also-yes' },
        { name: 'Contrarian', model: 'no' },
        { name: 'Sleepy', model: 'slow', weight: 2 },
      ],
    });
    const { result, events } = await run(harness, council, 'What is 6 x 7?');
    expect(result.output).toBe('42');
    expect(result.confidence).toBeCloseTo(3 / 6);
    expect(indexOf(events, 'agent-finish', 'Sleepy')).toBe(-1);
    expect(decisions(events)[0]).toMatchObject({
      kind: 'vote',
      detail: { weight: 3, total: 6, cancelled: ['Sleepy'] },
    });
  });

  it('vote: a failed voter is left out; with the quorum out of reach the run fails with no_quorum', async () => {
    fake.injectFault({ status: 400, match: { model: 'broken' } });
    const council = new Council({
      name: 'Vote',
      strategy: 'vote',
      vote: { quorum: 2 },
      agents: [
        { name: 'Yes', model: 'yes' },
        { name: 'Broken', model: 'broken' },
      ],
    });
    const { result } = await run(harness, council, 'Q');
    expect(result.status).toBe('failed');
    expect(result.error).toMatchObject({
      code: 'no_quorum',
      message:
        'council "Vote": no answer reached the quorum of 2 (best: 1); failed voters: Broken: provider_error',
    });
  });

  it('debate and router run as built in TS', async () => {
    const debate = new Council({
      name: 'Debate',
      strategy: 'debate',
      debate: { rounds: 1, judge: 'J' },
      agents: [
        { name: 'A', model: 'yes' },
        { name: 'B', model: 'no' },
        { name: 'J', model: 'fast' },
      ],
    });
    const debated = await run(harness, debate, 'Q');
    expect(debated.result.output).toBe('fast');
    expect(agentEvents(debated.events, 'agent-start').find((e) => e.agent === 'J')?.input).toBe(
      'Q\n\nThe debate (1 round):\n\nRound 1:\n\n[A] 42\n\n[B] 41\n\nGive the final answer.',
    );

    const router = new Council({
      name: 'Router',
      strategy: 'router',
      router: { model: 'picker' },
      agents: [
        { name: 'Other', model: 'other', description: 'Anything else' },
        { name: 'Refunds', model: 'refunds', description: 'Money back' },
      ],
    });
    const routed = await run(harness, router, 'My parcel arrived broken');
    expect(routed.result.output).toBe('Refund issued.');
    expect(decisions(routed.events)[0]).toMatchObject({
      kind: 'route',
      chosen: 'Refunds',
      detail: { by: 'model' },
    });
  });

  it('graph: an agent starts when its own dependencies are done, not when its level is', async () => {
    const council = new Council({
      name: 'Graph',
      strategy: 'graph',
      output: 'AfterFast',
      agents: [
        { name: 'Slow', model: 'slow' },
        { name: 'Fast', model: 'fast' },
        { name: 'AfterFast', model: 'chain', dependsOn: ['Fast'] },
        { name: 'Tail', model: 'yes', dependsOn: ['AfterFast'] },
      ],
    });
    const controller = new AbortController();
    const events: RunEvent[] = [];
    const running = harness.run(council, 'Q', {
      signal: controller.signal,
      onEvent: (event) => {
        events.push(event);
        // Tail, two levels down from Fast, starts while Slow (level 0) is still running.
        if (event.type === 'agent-start' && event.agent === 'Tail') controller.abort();
      },
    });
    const result = await running;
    expect(indexOf(events, 'agent-start', 'Tail')).toBeGreaterThan(
      indexOf(events, 'agent-finish', 'AfterFast'),
    );
    expect(indexOf(events, 'agent-finish', 'Slow')).toBe(-1);
    expect(result.status).toBe('aborted');
  });
});

describe('dependency cycles', () => {
  it('are refused at load with the cycle spelt out and the YAML location of every edge', async () => {
    const yaml = `models:
  - { id: m, type: simulated }
councils:
  - name: Loop
    strategy: graph
    agents:
      - name: A
        model: m
        depends_on: [C]
      - name: B
        model: m
        depends_on: [A]
      - name: C
        model: m
        depends_on: [B]
`;
    const error = thrown(() =>
      Harness.fromYaml(yaml, { file: 'loop.yaml', memory: 'memory://', journal: false }),
    );
    expect(error.code).toBe('graph_cycle');
    expect(error.message).toBe('council "Loop" has a dependency cycle: A -> C -> B -> A');
    expect(error.location).toMatchObject({
      file: 'loop.yaml',
      path: 'councils[0].agents[0].depends_on[0]',
      line: 9,
    });
    expect(error.details.edges).toEqual([
      expect.objectContaining({ from: 'A', to: 'C', path: 'councils[0].agents[0].depends_on[0]', line: 9 }),
      expect.objectContaining({ from: 'C', to: 'B', path: 'councils[0].agents[2].depends_on[0]', line: 15 }),
      expect.objectContaining({ from: 'B', to: 'A', path: 'councils[0].agents[1].depends_on[0]', line: 12 }),
    ]);
    expect(error.format()).toContain('loop.yaml:9:22 (councils[0].agents[0].depends_on[0])');
    expect(error.hint).toContain('councils[0].agents[2].depends_on[0] (line 15)');
  });

  it('are refused by the Council constructor with option paths', () => {
    const error = thrown(
      () =>
        new Council({
          name: 'Loop',
          strategy: 'graph',
          agents: [
            new Agent({ name: 'A', model: 'm', dependsOn: ['B'] }),
            new Agent({ name: 'B', model: 'm', dependsOn: ['A'] }),
          ],
        }),
    );
    expect(error).toMatchObject({
      code: 'graph_cycle',
      message: 'council "Loop" has a dependency cycle: A -> B -> A',
      location: { path: 'Council.agents[0].dependsOn[0]' },
      details: {
        edges: [
          { from: 'A', to: 'B', path: 'Council.agents[0].dependsOn[0]' },
          { from: 'B', to: 'A', path: 'Council.agents[1].dependsOn[0]' },
        ],
      },
    });
  });

  it('a spec with a cycle is refused when added to a harness', async () => {
    const harness = new Harness({ memory: 'memory://', journal: false });
    const error = thrown(() =>
      harness.addCouncil({
        name: 'Loop',
        strategy: 'graph',
        agents: [{ name: 'A', model: 'm', dependsOn: ['A'] }],
      }),
    );
    expect(error).toMatchObject({
      code: 'graph_cycle',
      message: 'council "Loop" has a dependency cycle: A -> A',
    });
    await harness.stop();
  });
});
