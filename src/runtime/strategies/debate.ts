/**
 * `debate`: the debaters (every agent but the judge) answer the run input at the same time; in
 * each later round every debater gets the input, its own previous answer and the others'
 * previous answers, and answers again. After the last round the judge reads the whole debate
 * and its answer is the council's. Steps are keyed `Name#round1`, `Name#round2`, …; a failing
 * debater fails the council (the others are cancelled) and the error names it.
 */
import { HarnessError } from '../../errors.ts';
import type { Agent } from '../agent.ts';
import { excerpt, labelled, runConcurrently, step } from './shared.ts';
import type { CouncilContext, StrategyResult } from './types.ts';

export async function debate(ctx: CouncilContext): Promise<StrategyResult> {
  const { council } = ctx;
  const settings = council.debate;
  if (settings === undefined) {
    throw new HarnessError('config_invalid', `council "${council.name}" has no debate options`, {
      hint: 'add debate: { rounds: 2, judge: <agent name> }',
    });
  }
  const debaters = council.agents.filter((agent) => agent.name !== settings.judge);
  const rounds: Array<Array<{ agent: string; output: string }>> = [];
  for (let round = 1; round <= settings.rounds; round++) {
    const previous = rounds.at(-1);
    const results = await runConcurrently(
      ctx,
      debaters.map((agent) => ({
        agent,
        key: `${agent.name}#round${round}`,
        input:
          previous === undefined ? ctx.input : rebuttal(ctx.input, agent, previous, round, settings.rounds),
      })),
    );
    rounds.push(results.map((result, i) => ({ agent: (debaters[i] as Agent).name, output: result.output })));
  }
  const transcript = rounds.map((answers, i) => `Round ${i + 1}:\n\n${labelled(answers)}`).join('\n\n');
  const judge = council.agent(settings.judge);
  const output = await ctx.decide('judge', 'judge', async () => {
    const verdict = await step(
      ctx,
      judge,
      `${ctx.input}\n\nThe debate (${settings.rounds} round${settings.rounds === 1 ? '' : 's'}):\n\n${transcript}\n\nGive the final answer.`,
    );
    return {
      value: verdict.output,
      chosen: excerpt(verdict.output, 60),
      reason: `${judge.name} gave the final answer after ${settings.rounds} round${settings.rounds === 1 ? '' : 's'} of ${debaters.length} debaters`,
      detail: { judge: judge.name, rounds: settings.rounds, debaters: debaters.map((agent) => agent.name) },
    };
  });
  return { output };
}

/** A debater's input from round 2 on: its own previous answer, then the others'. */
function rebuttal(
  input: string,
  agent: Agent,
  previous: ReadonlyArray<{ agent: string; output: string }>,
  round: number,
  rounds: number,
): string {
  const own = previous.find((answer) => answer.agent === agent.name)?.output ?? '';
  const others = previous.filter((answer) => answer.agent !== agent.name);
  return [
    input,
    `Debate round ${round} of ${rounds}. Your previous answer:\n${own}`,
    `The other debaters answered:\n\n${labelled(others)}`,
    'Answer again: keep what holds up, correct what does not.',
  ].join('\n\n');
}
