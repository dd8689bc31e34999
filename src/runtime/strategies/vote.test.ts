import { describe, expect, it } from 'vitest';
import { HarnessError } from '../../errors.ts';
import { Council, type CouncilOptions } from '../council.ts';
import { type FakeAnswer, FakeCouncilContext } from './fake-context.ts';
import { vote, voteKey } from './vote.ts';

type VoterSpec = { name: string; weight?: number };

function council(voters: Array<string | VoterSpec>, options: Partial<CouncilOptions> = {}): Council {
  return new Council({
    name: 'V',
    strategy: 'vote',
    agents: voters.map((v) => ({ ...(typeof v === 'string' ? { name: v } : v), model: 'sim' })),
    ...options,
  });
}

/** Answers from a table; an agent missing from it answers only when cancelled (it hangs). */
function table(answers: Record<string, string | HarnessError>): FakeAnswer {
  return async ({ agent, signal }) => {
    const answer = answers[agent];
    if (answer instanceof HarnessError) throw answer;
    if (answer !== undefined) return answer;
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    return 'too late';
  };
}

const fail = (message = 'upstream 500') => new HarnessError('provider_error', message);

describe('voteKey', () => {
  it('majority ignores only outer whitespace; normalized ignores case, spacing and punctuation', () => {
    expect(voteKey('majority', '  Paris\n')).toBe('Paris');
    expect(voteKey('majority', 'Paris.')).not.toBe(voteKey('majority', 'paris'));
    expect(voteKey('normalized', 'It is  PARIS!')).toBe(voteKey('normalized', 'it is, paris'));
  });
});

describe('vote', () => {
  it('majority: the heaviest group of identical answers wins; confidence is its share of the weight', async () => {
    const ctx = new FakeCouncilContext({
      council: council(['A', 'B', { name: 'C', weight: 3 }]),
      input: 'Capital of France?',
      answer: table({ A: 'Paris', B: 'Paris', C: 'Lyon' }),
    });
    // C alone weighs 3 against 2.
    expect(await vote(ctx)).toEqual({ output: 'Lyon', confidence: 0.6 });
    expect(ctx.decisions[0]).toMatchObject({
      key: 'vote',
      kind: 'vote',
      decision: {
        value: { output: 'Lyon', confidence: 0.6, winners: ['C'] },
        chosen: 'Lyon',
        reason: '3 of 5 weighted votes (exact match)',
        detail: { rule: 'majority', votes: { A: 'Paris', B: 'Paris', C: 'Lyon' }, weight: 3, total: 5 },
      },
    });
  });

  it('normalized: answers equal up to case and punctuation vote together; the first voter’s text is the output', async () => {
    const ctx = new FakeCouncilContext({
      council: council(['A', 'B', 'C'], { vote: { rule: 'normalized' } }),
      input: 'Q',
      answer: table({ A: 'Paris.', B: 'paris', C: 'Lyon' }),
    });
    expect(await vote(ctx)).toEqual({ output: 'Paris.', confidence: 2 / 3 });
    const exact = new FakeCouncilContext({
      council: council(['A', 'B', 'C']),
      input: 'Q',
      answer: table({ A: 'Paris.', B: 'paris', C: 'Lyon' }),
    });
    // Three different answers under the exact rule: a tie goes to the first voter in the council.
    expect(await vote(exact)).toEqual({ output: 'Paris.', confidence: 1 / 3 });
  });

  it('a quorum ends the vote early and cancels the voters still running', async () => {
    const ctx = new FakeCouncilContext({
      council: council(['A', 'B', 'C', 'D'], { vote: { quorum: 2 } }),
      input: 'Q',
      answer: table({ A: '42', C: '42' }),
    });
    expect(await vote(ctx)).toEqual({ output: '42', confidence: 0.5 });
    expect(ctx.log).toEqual(expect.arrayContaining(['abort:B', 'abort:D']));
    // The cancelled voters stopped before the decision was recorded.
    expect(ctx.log.at(-1)).toBe('decide:vote');
    expect(ctx.decisions[0]?.decision).toMatchObject({
      reason: 'quorum 2 reached by A, C; 2 voters cancelled',
      detail: { quorum: 2, cancelled: ['B', 'D'], votes: { A: '42', C: '42' } },
    });
  });

  it('counts weights towards the quorum', async () => {
    const ctx = new FakeCouncilContext({
      council: council([{ name: 'Senior', weight: 2 }, 'A', 'B'], { vote: { quorum: 2 } }),
      input: 'Q',
      answer: table({ Senior: 'yes' }),
    });
    expect(await vote(ctx)).toEqual({ output: 'yes', confidence: 0.5 });
    expect(ctx.log).toEqual(expect.arrayContaining(['abort:A', 'abort:B']));
  });

  it('leaves a failed voter out and goes on while the quorum is reachable', async () => {
    const ctx = new FakeCouncilContext({
      council: council(['A', 'B', 'C'], { vote: { quorum: 2 } }),
      input: 'Q',
      answer: table({ A: fail(), B: 'x', C: 'x' }),
    });
    // Confidence counts the voters that did not fail: 2 of 2.
    expect(await vote(ctx)).toEqual({ output: 'x', confidence: 1 });
    expect(ctx.decisions[0]?.decision.detail).toMatchObject({
      failed: [{ agent: 'A', code: 'provider_error' }],
    });
  });

  it('fails with no_quorum as soon as failures put the quorum out of reach', async () => {
    const ctx = new FakeCouncilContext({
      council: council(['A', 'B', 'C'], { vote: { quorum: 3 } }),
      input: 'Q',
      answer: table({ A: fail('boom') }),
    });
    const error = await vote(ctx).catch((caught: unknown) => caught as HarnessError);
    expect(error).toMatchObject({
      code: 'no_quorum',
      message: 'council "V": no answer reached the quorum of 3 (best: 0); failed voters: A: provider_error',
      details: {
        quorum: 3,
        failed: [{ agent: 'A', code: 'provider_error', message: 'agent "A" failed: boom' }],
      },
    });
    // B and C were still running: cancelled, not waited for.
    expect(ctx.log).toEqual(expect.arrayContaining(['abort:B', 'abort:C']));
    expect(ctx.decisions).toEqual([]);
  });

  it('fails with no_quorum when the answers disagree too much', async () => {
    const ctx = new FakeCouncilContext({
      council: council(['A', 'B', 'C'], { vote: { quorum: 2 } }),
      input: 'Q',
      answer: table({ A: 'x', B: 'y', C: 'z' }),
    });
    await expect(vote(ctx)).rejects.toMatchObject({
      code: 'no_quorum',
      message: 'council "V": no answer reached the quorum of 2 (best: 1)',
    });
  });

  it('fails with no_quorum when every voter fails', async () => {
    const ctx = new FakeCouncilContext({
      council: council(['A', 'B']),
      input: 'Q',
      answer: table({ A: fail(), B: new HarnessError('context_too_long', 'too long') }),
    });
    await expect(vote(ctx)).rejects.toMatchObject({
      code: 'no_quorum',
      message: 'council "V": every voter failed (A: provider_error, B: context_too_long)',
    });
  });

  it('a run limit or abort ends the vote as it is', async () => {
    const ctx = new FakeCouncilContext({
      council: council(['A', 'B']),
      input: 'Q',
      answer: table({ A: new HarnessError('limit_exceeded', 'token limit', { details: { scope: 'run' } }) }),
    });
    await expect(vote(ctx)).rejects.toMatchObject({ code: 'limit_exceeded', message: 'token limit' });
  });

  it('rule judge: the judge reads the numbered answers and picks one', async () => {
    const c = council(['A', 'B', 'C', 'Judge'], { vote: { rule: 'judge', judge: 'Judge' } });
    const ctx = new FakeCouncilContext({
      council: c,
      input: 'Best name?',
      answer: table({ A: 'Ada', B: 'Bob', C: 'ada', Judge: 'Answer [2] is best.' }),
    });
    // Bob alone, of 3 equal weights.
    expect(await vote(ctx)).toEqual({ output: 'Bob', confidence: 1 / 3 });
    expect(ctx.calls.find((call) => call.agent === 'Judge')?.input).toBe(
      'Best name?\n\nAnswers to choose from:\n\n[1] (A) Ada\n\n[2] (B) Bob\n\n[3] (C) ada\n\nReply with the number of the best answer.',
    );
    expect(ctx.decisions[0]?.decision).toMatchObject({
      reason: 'Judge picked the answer of B',
      detail: { rule: 'judge', judge: 'Judge' },
    });
    // The judge's pick by name counts the answers that agree with it (normalized).
    const byName = new FakeCouncilContext({
      council: c,
      input: 'Best name?',
      answer: table({ A: 'Ada', B: 'Bob', C: 'ada', Judge: 'I prefer C' }),
    });
    expect(await vote(byName)).toEqual({ output: 'ada', confidence: 2 / 3 });
  });

  it('rule judge: an unreadable verdict falls back to the normalized majority', async () => {
    const ctx = new FakeCouncilContext({
      council: council(['A', 'B', 'C', 'Judge'], { vote: { judge: 'Judge' } }),
      input: 'Q',
      answer: table({ A: 'Ada', B: 'Bob', C: 'ada', Judge: 'They are all fine.' }),
    });
    expect(await vote(ctx)).toEqual({ output: 'Ada', confidence: 2 / 3 });
    expect(ctx.decisions[0]?.decision.reason).toBe(
      "Judge's reply names no answer; the normalized majority decides",
    );
  });

  it('a resumed run takes the recorded outcome without asking the voters again', async () => {
    const ctx = new FakeCouncilContext({
      council: council(['A', 'B']),
      input: 'Q',
      answer: table({}),
      replay: { vote: { output: 'recorded', confidence: 1, winners: ['A', 'B'] } },
    });
    expect(await vote(ctx)).toEqual({ output: 'recorded', confidence: 1 });
    expect(ctx.calls).toEqual([]);
  });
});
