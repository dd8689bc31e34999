/**
 * `pipeline`: agents run one after another; each gets the run input plus the previous agent's
 * output, and the last agent's output is the council's.
 */
import type { CouncilContext, StrategyResult } from './types.ts';

export async function pipeline(ctx: CouncilContext): Promise<StrategyResult> {
  let current = ctx.input;
  let output = '';
  for (const agent of ctx.council.agents) {
    const step = await ctx.runAgent(agent, current);
    output = step.output;
    current = `${ctx.input}\n\n[${agent.name}] ${step.output}`;
  }
  return { output };
}
