import { describe, expect, it } from 'vitest';
import { HarnessError } from '../../errors.ts';
import { Council } from '../council.ts';
import { FakeCouncilContext, gate } from './fake-context.ts';
import { graph } from './graph.ts';

const agent = (name: string, dependsOn?: string[]) => ({
  name,
  model: 'sim',
  ...(dependsOn === undefined ? {} : { dependsOn }),
});

describe('graph', () => {
  it('runs independent agents together and gives each agent its dependencies’ labelled outputs', async () => {
    const council = new Council({
      name: 'Research',
      strategy: 'graph',
      agents: [
        agent('Writer', ['Style', 'Facts']),
        agent('Facts'),
        agent('Style'),
        agent('Review', ['Writer']),
      ],
    });
    const roots = gate();
    const ctx = new FakeCouncilContext({
      council,
      input: 'Topic',
      answer: async ({ agent: name, input }) => {
        if (name === 'Facts' || name === 'Style') await roots.promise;
        return name === 'Review' ? `reviewed(${input})` : `${name.toLowerCase()}`;
      },
    });
    const running = graph(ctx);
    await expect.poll(() => ctx.log).toEqual(['decide:graph', 'start:Facts', 'start:Style']);
    roots.open();
    const result = await running;
    expect(ctx.calls.find((call) => call.agent === 'Writer')?.input).toBe(
      'Topic\n\n[Style] style\n\n[Facts] facts',
    );
    expect(result).toEqual({ output: 'reviewed(Topic\n\n[Writer] writer)' });
    expect(ctx.decisions).toEqual([
      {
        key: 'graph',
        kind: 'graph',
        decision: {
          value: { levels: [['Facts', 'Style'], ['Writer'], ['Review']], output: ['Review'] },
          chosen: 'Review',
          reason: "4 agents in 3 levels; the output is Review's",
          detail: { levels: [['Facts', 'Style'], ['Writer'], ['Review']] },
        },
      },
    ]);
  });

  it('starts an agent as soon as its own dependencies are done, not when its level is', async () => {
    const council = new Council({
      name: 'G',
      strategy: 'graph',
      agents: [agent('Slow'), agent('Fast'), agent('AfterFast', ['Fast']), agent('AfterSlow', ['Slow'])],
    });
    const slow = gate();
    const ctx = new FakeCouncilContext({
      council,
      input: 'Q',
      answer: async ({ agent: name }) => {
        if (name === 'Slow') await slow.promise;
        return name;
      },
    });
    const running = graph(ctx);
    await expect.poll(() => ctx.log).toContain('finish:AfterFast');
    expect(ctx.log).not.toContain('finish:Slow');
    slow.open();
    // Two sinks and no `output`: both outputs, joined in agent order.
    expect(await running).toEqual({ output: '[AfterFast] AfterFast\n\n[AfterSlow] AfterSlow' });
  });

  it('`output` names the agent whose output is the council’s', async () => {
    const council = new Council({
      name: 'G',
      strategy: 'graph',
      output: 'B',
      agents: [agent('A'), agent('B', ['A']), agent('C', ['A'])],
    });
    const ctx = new FakeCouncilContext({ council, input: 'Q', answer: ({ agent: name }) => `${name}!` });
    expect(await graph(ctx)).toEqual({ output: 'B!' });
    expect(ctx.decisions[0]?.decision).toMatchObject({ chosen: 'B', value: { output: ['B'] } });
  });

  it('a failing agent cancels the running ones, starts no others, and is named', async () => {
    const council = new Council({
      name: 'G',
      strategy: 'graph',
      agents: [agent('A'), agent('B'), agent('C', ['A']), agent('D', ['B'])],
    });
    const ctx = new FakeCouncilContext({
      council,
      input: 'Q',
      answer: async ({ agent: name, signal }) => {
        if (name === 'B') throw new HarnessError('provider_error', 'upstream 500');
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        return name;
      },
    });
    await expect(graph(ctx)).rejects.toMatchObject({
      code: 'provider_error',
      message: 'agent "B" failed: upstream 500',
    });
    expect(ctx.log).toEqual(['decide:graph', 'start:A', 'start:B', 'fail:B', 'abort:A']);
  });

  it('a single agent is its own output', async () => {
    const council = new Council({ name: 'G', strategy: 'graph', agents: [agent('Only')] });
    const ctx = new FakeCouncilContext({ council, input: 'Q', answer: () => 'done' });
    expect(await graph(ctx)).toEqual({ output: 'done' });
  });
});
