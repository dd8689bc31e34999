import { describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { Agent } from './agent.ts';
import { Council, type CouncilOptions } from './council.ts';

const m = 'sim';

function thrown(options: CouncilOptions): HarnessError {
  try {
    new Council(options);
  } catch (error) {
    if (HarnessError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected the Council constructor to throw');
}

describe('Council: strategy options', () => {
  it('defaults to a pipeline and applies each strategy’s defaults', () => {
    expect(new Council({ name: 'P', agents: [{ name: 'A', model: m }] }).strategy).toBe('pipeline');
    const vote = new Council({ name: 'V', strategy: 'vote', agents: [{ name: 'A', model: m }] });
    expect(vote.vote).toEqual({ rule: 'majority' });
    const judged = new Council({
      name: 'V',
      strategy: 'vote',
      vote: { judge: 'J' },
      agents: [
        { name: 'A', model: m },
        { name: 'J', model: m },
      ],
    });
    expect(judged.vote).toEqual({ rule: 'judge', judge: 'J' });
    const debate = new Council({
      name: 'D',
      strategy: 'debate',
      debate: { judge: 'J' },
      agents: ['A', 'B', 'J'].map((name) => ({ name, model: m })),
    });
    expect(debate.debate).toEqual({ rounds: 2, judge: 'J' });
    const router = new Council({
      name: 'R',
      strategy: 'router',
      router: { routes: [{ when: 'refund', agent: 'B' }] },
      agents: ['A', 'B'].map((name) => ({ name, model: m })),
    });
    expect(router.router).toEqual({ routes: [{ when: 'refund', agent: 'B' }], default: 'A' });
    expect(router.agent('B')).toBe(router.agents[1]);
    expect(() => router.agent('C')).toThrow('council "R" has no agent "C"');
  });

  it('accepts Agent instances with dependsOn and weight', () => {
    const council = new Council({
      name: 'G',
      strategy: 'graph',
      output: 'C',
      agents: [
        new Agent({ name: 'A', model: m }),
        new Agent({ name: 'B', model: m }),
        new Agent({ name: 'C', model: m, dependsOn: ['A', 'B'] }),
      ],
    });
    expect(council.agents[2]?.spec.dependsOn).toEqual(['A', 'B']);
    expect(council.output).toBe('C');
  });

  it('rejects a dependency cycle with graph_cycle, spelling the cycle and every edge', () => {
    const error = thrown({
      name: 'Research',
      strategy: 'graph',
      agents: [
        { name: 'Start', model: m },
        { name: 'A', model: m, dependsOn: ['Start', 'B'] },
        { name: 'B', model: m, dependsOn: ['C'] },
        { name: 'C', model: m, dependsOn: ['A'] },
      ],
    });
    expect(error.code).toBe('graph_cycle');
    expect(error.message).toBe('council "Research" has a dependency cycle: A -> B -> C -> A');
    expect(error.location).toEqual({ path: 'Council.agents[1].dependsOn[1]' });
    expect(error.details.cycle).toEqual(['A', 'B', 'C', 'A']);
    expect(error.details.edges).toEqual([
      { from: 'A', to: 'B', path: 'Council.agents[1].dependsOn[1]' },
      { from: 'B', to: 'C', path: 'Council.agents[2].dependsOn[0]' },
      { from: 'C', to: 'A', path: 'Council.agents[3].dependsOn[0]' },
    ]);
    expect(error.hint).toContain('Council.agents[3].dependsOn[0] (C -> A)');
  });

  it('rejects an agent that depends on itself', () => {
    const error = thrown({
      name: 'G',
      strategy: 'graph',
      agents: [{ name: 'A', model: m, dependsOn: ['A'] }],
    });
    expect(error).toMatchObject({
      code: 'graph_cycle',
      message: 'council "G" has a dependency cycle: A -> A',
    });
  });

  it.each<[string, CouncilOptions, string, string]>([
    [
      'an unknown dependency, with did-you-mean',
      {
        name: 'G',
        strategy: 'graph',
        agents: [
          { name: 'Writer', model: m },
          { name: 'Editor', model: m, dependsOn: ['Writter'] },
        ],
      },
      'Council.agents[1].dependsOn[0]',
      'council "G": agent "Editor" depends on "Writter", which is not an agent of this council — did you mean "Writer"?',
    ],
    [
      'dependsOn on a pipeline',
      {
        name: 'P',
        agents: [
          { name: 'A', model: m },
          { name: 'B', model: m, dependsOn: ['A'] },
        ],
      },
      'Council.agents[1].dependsOn',
      'council "P": agent "B" has `dependsOn`, an option of strategy graph, but this council\'s strategy is pipeline',
    ],
    [
      'vote options on a pipeline',
      { name: 'P', vote: { quorum: 1 }, agents: [{ name: 'A', model: m }] },
      'Council.vote',
      'council "P": `vote` is an option of strategy vote, but this council\'s strategy is pipeline',
    ],
    [
      'an unknown merge agent',
      {
        name: 'Par',
        strategy: 'parallel',
        merge: 'Edtor',
        agents: [
          { name: 'A', model: m },
          { name: 'Editor', model: m },
        ],
      },
      'Council.merge',
      'council "Par": merge agent "Edtor" is not an agent of this council — did you mean "Editor"?',
    ],
    [
      'a parallel council with nothing but the merge agent',
      { name: 'Par', strategy: 'parallel', merge: 'A', agents: [{ name: 'A', model: m }] },
      'Council.agents',
      'council "Par": a parallel council needs an agent besides the merge agent',
    ],
    [
      'a quorum above the voters’ total weight',
      {
        name: 'V',
        strategy: 'vote',
        vote: { quorum: 4 },
        agents: [
          { name: 'A', model: m, weight: 2 },
          { name: 'B', model: m },
        ],
      },
      'Council.vote.quorum',
      'council "V": quorum 4 can never be reached: the 2 voters weigh 3 in total',
    ],
    [
      'a quorum with rule judge',
      {
        name: 'V',
        strategy: 'vote',
        vote: { rule: 'judge', judge: 'J', quorum: 1 },
        agents: [
          { name: 'A', model: m },
          { name: 'J', model: m },
        ],
      },
      'Council.vote.quorum',
      'council "V": a quorum needs rule majority or normalized: with rule judge the judge picks',
    ],
    [
      'a judge with rule majority',
      {
        name: 'V',
        strategy: 'vote',
        vote: { rule: 'majority', judge: 'A' },
        agents: [{ name: 'A', model: m }],
      },
      'Council.vote.judge',
      'council "V": a judge only picks with rule judge, but the rule is majority',
    ],
    [
      'a zero weight',
      { name: 'V', strategy: 'vote', agents: [{ name: 'A', model: m, weight: 0 }] },
      'Council.agents[0].weight',
      'council "V": agent "A" has weight 0',
    ],
    [
      'a debate without options',
      {
        name: 'D',
        strategy: 'debate',
        agents: [
          { name: 'A', model: m },
          { name: 'B', model: m },
        ],
      },
      'Council.debate',
      'council "D": a debate needs `debate: { judge: <agent> }`',
    ],
    [
      'a debate with one debater',
      {
        name: 'D',
        strategy: 'debate',
        debate: { judge: 'J' },
        agents: [
          { name: 'A', model: m },
          { name: 'J', model: m },
        ],
      },
      'Council.agents',
      'council "D": a debate needs at least two debaters besides the judge',
    ],
    [
      'absurd debate rounds',
      {
        name: 'D',
        strategy: 'debate',
        debate: { judge: 'J', rounds: 500 },
        agents: ['A', 'B', 'J'].map((name) => ({ name, model: m })),
      },
      'Council.debate.rounds',
      'council "D": rounds must be a whole number from 1 to 20, not 500',
    ],
    [
      'an invalid route expression',
      {
        name: 'R',
        strategy: 'router',
        router: { routes: [{ when: 'refund(', agent: 'A' }] },
        agents: [{ name: 'A', model: m }],
      },
      'Council.router.routes[0].when',
      'council "R": route 1 has an invalid regular expression: /refund(/i: Unterminated group',
    ],
    [
      'an unknown route agent',
      {
        name: 'R',
        strategy: 'router',
        router: { routes: [{ when: 'refund', agent: 'Biling' }] },
        agents: [{ name: 'Billing', model: m }],
      },
      'Council.router.routes[0].agent',
      'council "R": route agent "Biling" is not an agent of this council — did you mean "Billing"?',
    ],
    [
      'an unknown default agent',
      {
        name: 'R',
        strategy: 'router',
        router: { model: 'fast', default: 'Nobody' },
        agents: [{ name: 'A', model: m }],
      },
      'Council.router.default',
      'council "R": default agent "Nobody" is not an agent of this council',
    ],
    [
      'a router with neither routes nor a model',
      { name: 'R', strategy: 'router', router: { default: 'A' }, agents: [{ name: 'A', model: m }] },
      'Council.router',
      'council "R": a router needs routes or a model to pick an agent',
    ],
    [
      'an unknown output agent',
      { name: 'G', strategy: 'graph', output: 'Z', agents: [{ name: 'A', model: m }] },
      'Council.output',
      'council "G": output agent "Z" is not an agent of this council',
    ],
    [
      'an unknown strategy',
      { name: 'X', strategy: 'paralel' as never, agents: [{ name: 'A', model: m }] },
      'Council.strategy',
      'council "X": unknown strategy "paralel" — did you mean "parallel"?',
    ],
  ])('rejects %s at its option path', (_, options, path, message) => {
    const error = thrown(options);
    expect(error.code).toBe('config_invalid');
    expect(error.location).toEqual({ path });
    expect(error.message).toBe(message);
    expect(error.hint).toBeTruthy();
  });

  it('lists every problem in details.issues', () => {
    const error = thrown({
      name: 'V',
      strategy: 'vote',
      merge: 'A',
      vote: { quorum: 9 },
      agents: [{ name: 'A', model: m, dependsOn: ['A'] }],
    });
    expect((error.details.issues as Array<{ path: string }>).map((issue) => issue.path)).toEqual([
      'Council.merge',
      'Council.agents[0].dependsOn',
      'Council.vote.quorum',
    ]);
  });
});
