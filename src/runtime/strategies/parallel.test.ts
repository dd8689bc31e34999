import { describe, expect, it } from 'vitest';
import { HarnessError } from '../../errors.ts';
import { Council } from '../council.ts';
import { FakeCouncilContext, gate } from './fake-context.ts';
import { parallel } from './parallel.ts';

const agents = (...names: string[]) => names.map((name) => ({ name, model: 'sim' }));

describe('parallel', () => {
  it('fans out to every agent at once, then the merge agent gets the input and the labelled outputs', async () => {
    const council = new Council({
      name: 'P',
      strategy: 'parallel',
      merge: 'Editor',
      agents: agents('A', 'Editor', 'B', 'C'),
    });
    const release = gate();
    const ctx = new FakeCouncilContext({
      council,
      input: 'Topic',
      answer: async ({ agent, input }) => {
        if (agent === 'Editor') return `merged(${input})`;
        await release.promise;
        return `${agent} on ${input}`;
      },
    });
    const running = parallel(ctx);
    // All three started before any finished: they run at the same time.
    await expect.poll(() => ctx.log).toEqual(['start:A', 'start:B', 'start:C']);
    release.open();
    const result = await running;
    expect(result.output).toBe('merged(Topic\n\n[A] A on Topic\n\n[B] B on Topic\n\n[C] C on Topic)');
    expect(ctx.calls.find((c) => c.agent === 'Editor')?.key).toBe('Editor');
    expect(ctx.log.at(-2)).toBe('start:Editor');
    expect(ctx.decisions).toEqual([
      {
        key: 'merge',
        kind: 'merge',
        decision: {
          value: 'Editor',
          chosen: 'Editor',
          reason: 'Editor merges the outputs of 3 agents',
          detail: { agents: ['A', 'B', 'C'] },
        },
      },
    ]);
  });

  it('without a merge agent joins the outputs in agent order, whatever order they finish in', async () => {
    const council = new Council({ name: 'P', strategy: 'parallel', agents: agents('A', 'B', 'C') });
    const gates = { A: gate(), B: gate(), C: gate() };
    const ctx = new FakeCouncilContext({
      council,
      input: 'Q',
      answer: async ({ agent }) => {
        await gates[agent as 'A' | 'B' | 'C'].promise;
        return agent.toLowerCase();
      },
    });
    const running = parallel(ctx);
    gates.C.open();
    await expect.poll(() => ctx.log).toContain('finish:C');
    gates.B.open();
    await expect.poll(() => ctx.log).toContain('finish:B');
    gates.A.open();
    expect((await running).output).toBe('[A] a\n\n[B] b\n\n[C] c');
    expect(ctx.decisions[0]?.decision).toMatchObject({ value: null, chosen: 'join' });
  });

  it('a failing agent fails the council: the others are cancelled and the error names it', async () => {
    const council = new Council({
      name: 'P',
      strategy: 'parallel',
      merge: 'M',
      agents: agents('A', 'B', 'C', 'M'),
    });
    const ctx = new FakeCouncilContext({
      council,
      input: 'Q',
      answer: async ({ agent, signal }) => {
        if (agent === 'B') {
          throw new HarnessError('provider_error', 'upstream 500', { isRetryable: true, hint: 'try later' });
        }
        // A and C only end when cancelled.
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        return 'never used';
      },
    });
    const error = await parallel(ctx).catch((caught: unknown) => caught as HarnessError);
    expect(error).toMatchObject({
      code: 'provider_error',
      message: 'agent "B" failed: upstream 500',
      isRetryable: true,
      hint: 'try later',
      details: { agent: 'B' },
    });
    expect(ctx.log).toEqual(expect.arrayContaining(['fail:B', 'abort:A', 'abort:C']));
    expect(ctx.log).not.toContain('start:M');
  });

  it('a run abort is thrown as it is', async () => {
    const council = new Council({ name: 'P', strategy: 'parallel', agents: agents('A', 'B') });
    const run = new AbortController();
    const ctx = new FakeCouncilContext({
      council,
      input: 'Q',
      signal: run.signal,
      answer: () => new Promise<string>(() => {}),
    });
    const running = parallel(ctx);
    await expect.poll(() => ctx.calls.length).toBe(2);
    run.abort();
    await expect(running).rejects.toMatchObject({ code: 'aborted', message: 'step A was aborted' });
  });
});
