/**
 * `graph`: agents run as a DAG of their `dependsOn`, each as soon as all its dependencies have
 * finished (maximal parallelism, not level by level). An agent without dependencies gets the
 * run input; the others get the input plus their dependencies' labelled outputs, in the order
 * `dependsOn` lists them. The council's output is the `output` agent's, else the single sink's
 * (the agent nobody depends on), else every sink's, labelled and joined in agent order. A
 * failing agent fails the council: the running agents are cancelled, no new one starts, and the
 * error names the agent. The plan (levels and output) is a `graph` decision.
 */
import type { HarnessError } from '../../errors.ts';
import type { Agent } from '../agent.ts';
import { sinks, topologicalLevels } from '../graph.ts';
import { labelled, step } from './shared.ts';
import type { AgentStepResult, CouncilContext, StrategyResult } from './types.ts';

export async function graph(ctx: CouncilContext): Promise<StrategyResult> {
  const { council } = ctx;
  const deps = new Map(council.agents.map((agent) => [agent.name, agent.spec.dependsOn ?? []]));
  const outputs = council.output === undefined ? sinks(deps) : [council.output];
  await ctx.decide('graph', 'graph', async () => {
    // The Council constructor rejected cycles, so the levels exist.
    const levels = topologicalLevels(deps);
    return {
      value: { levels, output: outputs },
      chosen: outputs.join(' + '),
      reason: `${council.agents.length} agents in ${levels.length} level${levels.length === 1 ? '' : 's'}; the output is ${
        outputs.length === 1 ? `${outputs[0]}'s` : `${outputs.join(', ')} joined`
      }`,
      detail: { levels },
    };
  });

  const results = new Map<string, AgentStepResult>();
  const running = new Map<string, Promise<void>>();
  const cancel = new AbortController();
  let failure: HarnessError | undefined;
  const ready = (agent: Agent) =>
    !results.has(agent.name) &&
    !running.has(agent.name) &&
    (deps.get(agent.name) ?? []).every((dep) => results.has(dep));
  const inputOf = (agent: Agent) => {
    const before = deps.get(agent.name) ?? [];
    if (before.length === 0) return ctx.input;
    return `${ctx.input}\n\n${labelled(before.map((dep) => ({ agent: dep, output: results.get(dep)?.output ?? '' })))}`;
  };

  while (true) {
    if (failure === undefined) {
      for (const agent of council.agents) {
        if (!ready(agent)) continue;
        const run = step(ctx, agent, inputOf(agent), { signal: cancel.signal }).then(
          (result) => {
            results.set(agent.name, result);
          },
          (error: HarnessError) => {
            // The first failure ends the graph; later ones are the cancellation it caused.
            if (failure === undefined) {
              failure = error;
              cancel.abort(error);
            }
          },
        );
        running.set(
          agent.name,
          run.finally(() => running.delete(agent.name)),
        );
      }
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  if (failure !== undefined) throw failure;

  const finals = outputs.map((name) => results.get(name) as AgentStepResult);
  if (finals.length === 1) {
    const only = finals[0] as AgentStepResult;
    return { output: only.output, ...(only.confidence === undefined ? {} : { confidence: only.confidence }) };
  }
  return { output: labelled(finals) };
}
