/**
 * `router`: one agent answers the run input, chosen by the route rules (case-insensitive
 * regular expressions on the input, first match wins), else by the router model, which reads
 * the agents' descriptions and replies with an agent's name (a reply that names no agent
 * falls back to the default), else the default agent. The choice is a `route` decision, so a
 * resumed run takes the same route without asking the model again.
 */
import { HarnessError } from '../../errors.ts';
import { Agent } from '../agent.ts';
import type { Council } from '../council.ts';
import { excerpt, mentions, step } from './shared.ts';
import type { CouncilContext, Decision, StrategyResult } from './types.ts';

/**
 * The name of the agent that runs the router model. The parentheses keep it apart from the
 * council's own agents, whose names are plain words, in events, memory threads and journal keys.
 */
export const routerAgentName = '(router)';

export async function router(ctx: CouncilContext): Promise<StrategyResult> {
  const { council } = ctx;
  if (council.router === undefined) {
    throw new HarnessError('config_invalid', `council "${council.name}" has no router options`, {
      hint: 'add router: { routes: [{ when: <regex>, agent: <name> }], default: <name> }',
    });
  }
  const chosen = await ctx.decide('route', 'route', () => route(ctx));
  const result = await step(ctx, council.agent(chosen), ctx.input);
  return {
    output: result.output,
    ...(result.confidence === undefined ? {} : { confidence: result.confidence }),
  };
}

async function route(ctx: CouncilContext): Promise<Decision<string>> {
  const settings = ctx.council.router as NonNullable<Council['router']>;
  for (const [i, rule] of settings.routes.entries()) {
    if (new RegExp(rule.when, 'i').test(ctx.input)) {
      return {
        value: rule.agent,
        chosen: rule.agent,
        reason: `route ${i + 1} (/${rule.when}/i) matched the input`,
        detail: { by: 'rule', route: i },
      };
    }
  }
  if (settings.model === undefined) {
    return {
      value: settings.default,
      chosen: settings.default,
      reason: 'no route matched; the default agent answers',
      detail: { by: 'default' },
    };
  }
  const reply = await step(ctx, routerAgent(ctx.council, settings.model), ctx.input, {
    key: routerAgentName,
  });
  const picked = pickAgent(
    reply.output,
    ctx.council.agents.map((agent) => agent.name),
  );
  if (picked === undefined) {
    return {
      value: settings.default,
      chosen: settings.default,
      reason: `no route matched and the router model's reply "${excerpt(reply.output, 40)}" names no agent; the default agent answers`,
      detail: { by: 'default', model: reply.model, reply: excerpt(reply.output) },
    };
  }
  return {
    value: picked,
    chosen: picked,
    reason: `no route matched; the router model ${reply.model} picked ${picked}`,
    detail: { by: 'model', model: reply.model, reply: excerpt(reply.output) },
  };
}

/** The agent that asks the router model to pick: its instructions list the agents with their descriptions. */
export function routerAgent(council: Council, model: string): Agent {
  const lines = council.agents.map((agent) => {
    const about = agent.spec.description ?? agent.spec.instructions?.split('\n')[0] ?? '';
    return `- ${agent.name}${about ? `: ${about}` : ''}`;
  });
  return new Agent({
    name: routerAgentName,
    model,
    temperature: 0,
    instructions: [
      'You route a request to the agent best suited to answer it. The agents:',
      ...lines,
      'Reply with the name of exactly one agent and nothing else.',
    ].join('\n'),
  });
}

/**
 * The agent a router model's reply names: the whole reply (quotes, a trailing period, case and
 * an `Agent:` prefix ignored), else the one agent named as a word in it; `undefined` when none
 * or several are.
 */
export function pickAgent(reply: string, names: readonly string[]): string | undefined {
  const bare = reply
    .trim()
    .replace(/^(agent|answer|route)\s*:\s*/i, '')
    .replace(/^["'`*\s]+|["'`*.!\s]+$/g, '')
    .toLowerCase();
  const exact = names.find((name) => name.toLowerCase() === bare);
  if (exact !== undefined) return exact;
  const mentioned = names.filter((name) => mentions(reply, name));
  return mentioned.length === 1 ? mentioned[0] : undefined;
}
