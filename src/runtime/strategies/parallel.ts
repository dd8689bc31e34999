/**
 * `parallel`: every agent but the merge agent answers the run input at the same time; the merge
 * agent (`merge:`) then gets the input plus their labelled outputs and its answer is the
 * council's. Without a merge agent the outputs are joined, `[Name] output`, in agent order.
 * A failing agent fails the council: the others are cancelled and the error names the agent.
 */
import { labelled, runConcurrently, step } from './shared.ts';
import type { CouncilContext, StrategyResult } from './types.ts';

export async function parallel(ctx: CouncilContext): Promise<StrategyResult> {
  const { council } = ctx;
  const fanOut = council.agents.filter((agent) => agent.name !== council.merge);
  const steps = await runConcurrently(
    ctx,
    fanOut.map((agent) => ({ agent, input: ctx.input })),
  );
  const outputs = labelled(steps);
  const names = fanOut.map((agent) => agent.name);
  const merge = council.merge;
  await ctx.decide('merge', 'merge', async () => ({
    value: merge ?? null,
    chosen: merge ?? 'join',
    reason:
      merge === undefined
        ? `joined the outputs of ${names.length} agents in agent order`
        : `${merge} merges the outputs of ${names.length} agents`,
    detail: { agents: names },
  }));
  if (merge === undefined) return { output: outputs };
  const merged = await step(ctx, council.agent(merge), `${ctx.input}\n\n${outputs}`);
  return {
    output: merged.output,
    ...(merged.confidence === undefined ? {} : { confidence: merged.confidence }),
  };
}
