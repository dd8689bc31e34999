import { describe, expect, it } from 'vitest';
import { HarnessError } from '../../errors.ts';
import { Council } from '../council.ts';
import { debate } from './debate.ts';
import { FakeCouncilContext } from './fake-context.ts';

const agents = (...names: string[]) => names.map((name) => ({ name, model: 'sim' }));

describe('debate', () => {
  it('runs the rounds, shows each debater the others’ previous answers, and the judge answers last', async () => {
    const council = new Council({
      name: 'D',
      strategy: 'debate',
      debate: { rounds: 2, judge: 'Judge' },
      agents: agents('Pro', 'Judge', 'Con'),
    });
    const ctx = new FakeCouncilContext({
      council,
      input: 'Tabs or spaces?',
      answer: ({ agent, key }) => (agent === 'Judge' ? 'Spaces, by a nose.' : `${agent} says ${key}`),
    });
    expect(await debate(ctx)).toEqual({ output: 'Spaces, by a nose.' });
    expect(ctx.calls.map((call) => call.key)).toEqual([
      'Pro#round1',
      'Con#round1',
      'Pro#round2',
      'Con#round2',
      'Judge',
    ]);
    // A round starts only when the previous one is over.
    expect(ctx.log.indexOf('start:Pro#round2')).toBeGreaterThan(ctx.log.indexOf('finish:Con#round1'));
    expect(ctx.calls[0]?.input).toBe('Tabs or spaces?');
    expect(ctx.calls[2]?.input).toBe(
      [
        'Tabs or spaces?',
        'Debate round 2 of 2. Your previous answer:\nPro says Pro#round1',
        'The other debaters answered:\n\n[Con] Con says Con#round1',
        'Answer again: keep what holds up, correct what does not.',
      ].join('\n\n'),
    );
    expect(ctx.calls[4]?.input).toBe(
      'Tabs or spaces?\n\nThe debate (2 rounds):\n\n' +
        'Round 1:\n\n[Pro] Pro says Pro#round1\n\n[Con] Con says Con#round1\n\n' +
        'Round 2:\n\n[Pro] Pro says Pro#round2\n\n[Con] Con says Con#round2\n\nGive the final answer.',
    );
    expect(ctx.decisions).toEqual([
      {
        key: 'judge',
        kind: 'judge',
        decision: {
          value: 'Spaces, by a nose.',
          chosen: 'Spaces, by a nose.',
          reason: 'Judge gave the final answer after 2 rounds of 2 debaters',
          detail: { judge: 'Judge', rounds: 2, debaters: ['Pro', 'Con'] },
        },
      },
    ]);
  });

  it('a failing debater fails the council, cancels the others and is named', async () => {
    const council = new Council({
      name: 'D',
      strategy: 'debate',
      debate: { judge: 'J', rounds: 3 },
      agents: agents('A', 'B', 'C', 'J'),
    });
    const ctx = new FakeCouncilContext({
      council,
      input: 'Q',
      answer: async ({ agent, key, signal }) => {
        if (key === 'B#round2') throw new HarnessError('skill_failed', 'the tool broke');
        if (key.endsWith('#round2'))
          await new Promise((resolve) => signal.addEventListener('abort', resolve));
        return agent;
      },
    });
    await expect(debate(ctx)).rejects.toMatchObject({
      code: 'skill_failed',
      message: 'agent "B" failed: the tool broke',
    });
    expect(ctx.log).toEqual(expect.arrayContaining(['abort:A#round2', 'abort:C#round2']));
    expect(ctx.calls.map((call) => call.key)).not.toContain('J');
  });

  it('a resumed run takes the recorded verdict', async () => {
    const council = new Council({
      name: 'D',
      strategy: 'debate',
      debate: { judge: 'J', rounds: 1 },
      agents: agents('A', 'B', 'J'),
    });
    const ctx = new FakeCouncilContext({
      council,
      input: 'Q',
      answer: ({ agent }) => agent,
      replay: { judge: 'the recorded verdict' },
    });
    expect(await debate(ctx)).toEqual({ output: 'the recorded verdict' });
    expect(ctx.calls.map((call) => call.key)).toEqual(['A#round1', 'B#round1']);
  });
});
