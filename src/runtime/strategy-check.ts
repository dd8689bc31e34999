/**
 * Validation of a council's strategy options, shared by the config loader (YAML paths and
 * lines) and the `Council` constructor (TS option paths), so both report the same problems
 * with the same words: unknown agent names (with a did-you-mean), options of another strategy,
 * impossible quorums, invalid route expressions, dependency cycles.
 */
import { didYouMean } from '../config/did-you-mean.ts';
import { type DependencyGraph, findCycle, formatCycle } from './graph.ts';
import type { AgentSpec, CouncilSpec, CouncilStrategy, VoteRule } from './spec.ts';

/** Every strategy name, in the order the docs list them. */
export const councilStrategies: readonly CouncilStrategy[] = [
  'pipeline',
  'parallel',
  'vote',
  'debate',
  'router',
  'graph',
];

const voteRules: readonly VoteRule[] = ['majority', 'normalized', 'judge'];

/** Most rounds a debate may have: each round is one call per debater. */
export const maxDebateRounds = 20;

/** One edge of a dependency cycle: `from` depends on `to`, written at `path`. */
export interface CycleEdge {
  from: string;
  to: string;
  /** Path of the `dependsOn` entry, relative to the council (`['agents', 2, 'dependsOn', 0]`). */
  path: Array<string | number>;
}

/** A problem in a council's strategy options. */
export interface StrategyIssue {
  code: 'config_invalid' | 'graph_cycle';
  /** Relative to the council, camelCase keys: `['agents', 2, 'dependsOn', 0]`, `['vote', 'quorum']`. */
  path: Array<string | number>;
  message: string;
  hint: string;
  details?: Record<string, unknown>;
  /** `graph_cycle` only: the edges along the cycle, in order. */
  edges?: CycleEdge[];
}

/** What the check reads: a council spec, or a `Council`'s options with agents reduced to specs. */
export interface StrategyCheckInput {
  name: string;
  strategy?: string | undefined;
  merge?: string | undefined;
  vote?: CouncilSpec['vote'] | undefined;
  debate?: CouncilSpec['debate'] | undefined;
  router?: CouncilSpec['router'] | undefined;
  output?: string | undefined;
  agents: ReadonlyArray<Pick<AgentSpec, 'name' | 'dependsOn' | 'weight'>>;
}

/**
 * How keys are spelt in messages: `yaml` writes `depends_on`, `ts` writes `dependsOn`. Paths
 * are camelCase either way; the loader maps them to the file's keys.
 */
export type KeyStyle = 'yaml' | 'ts';

/** Options that belong to one strategy, and the strategy they belong to. */
const councilOptionOwner = {
  merge: 'parallel',
  vote: 'vote',
  debate: 'debate',
  router: 'router',
  output: 'graph',
} as const satisfies Record<string, CouncilStrategy>;

const agentOptionOwner = { dependsOn: 'graph', weight: 'vote' } as const satisfies Record<
  string,
  CouncilStrategy
>;

/**
 * Every problem of `council`'s strategy options, in the order they are written (council keys,
 * then agents). An empty list means the council can run. Names are case-sensitive.
 */
export function checkStrategy(council: StrategyCheckInput, style: KeyStyle): StrategyIssue[] {
  const key = (name: string) =>
    style === 'yaml' ? name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : name;
  const issues: StrategyIssue[] = [];
  const names = council.agents.map((agent) => agent.name);
  const agentList = names.join(', ');
  const strategy = council.strategy ?? 'pipeline';
  const where = `council "${council.name}"`;

  if (!councilStrategies.includes(strategy as CouncilStrategy)) {
    const guess = didYouMean(strategy, councilStrategies);
    issues.push({
      code: 'config_invalid',
      path: ['strategy'],
      message: `${where}: unknown strategy "${strategy}"${guess ? ` — did you mean "${guess}"?` : ''}`,
      hint: `strategy is one of ${councilStrategies.join(', ')} (default pipeline)`,
      details: { strategy, known: [...councilStrategies] },
    });
    return issues;
  }

  /** An agent name that must be one of the council's agents. */
  const agentRef: AgentRef = (name, path, role) => {
    if (names.includes(name)) return true;
    const guess = didYouMean(name, names);
    const what = role.includes('%s') ? role.replace('%s', `"${name}"`) : `${role} "${name}"`;
    issues.push({
      code: 'config_invalid',
      path,
      message: `${where}: ${what} is not an agent of this council${guess ? ` — did you mean "${guess}"?` : ''}`,
      hint: `${guess ? `use "${guess}"; ` : ''}its agents are ${agentList}; role agents must be listed under agents`,
      details: { agent: name, known: names, ...(guess ? { suggestion: guess } : {}) },
    });
    return false;
  };

  const invalid = (path: Array<string | number>, message: string, hint: string) =>
    issues.push({ code: 'config_invalid', path, message: `${where}: ${message}`, hint });

  for (const [option, owner] of Object.entries(councilOptionOwner)) {
    if (council[option as keyof typeof councilOptionOwner] === undefined || owner === strategy) continue;
    invalid(
      [option],
      `\`${option}\` is an option of strategy ${owner}, but this council's strategy is ${strategy}`,
      `set strategy: ${owner}, or remove \`${option}\``,
    );
  }
  council.agents.forEach((agent, a) => {
    for (const [option, owner] of Object.entries(agentOptionOwner)) {
      if (agent[option as keyof typeof agentOptionOwner] === undefined || owner === strategy) continue;
      invalid(
        ['agents', a, option],
        `agent "${agent.name}" has \`${key(option)}\`, an option of strategy ${owner}, but this council's strategy is ${strategy}`,
        `set strategy: ${owner}, or remove \`${key(option)}\``,
      );
    }
  });

  switch (strategy) {
    case 'parallel': {
      if (council.merge !== undefined) agentRef(council.merge, ['merge'], 'merge agent');
      if (names.filter((name) => name !== council.merge).length === 0) {
        invalid(
          ['agents'],
          'a parallel council needs an agent besides the merge agent',
          'add the agents to fan out to',
        );
      }
      break;
    }
    case 'vote':
      checkVote(council, agentRef, invalid);
      break;
    case 'debate': {
      const debate = council.debate;
      if (debate === undefined) {
        invalid(
          ['debate'],
          'a debate needs `debate: { judge: <agent> }`',
          'add debate: { rounds: 2, judge: <agent name> }',
        );
        break;
      }
      if (typeof debate.judge !== 'string' || debate.judge === '') {
        invalid(
          ['debate', 'judge'],
          'a debate needs a judge',
          'set debate.judge to the agent that gives the final answer',
        );
      } else {
        agentRef(debate.judge, ['debate', 'judge'], 'judge');
      }
      if (
        debate.rounds !== undefined &&
        (!Number.isInteger(debate.rounds) || debate.rounds < 1 || debate.rounds > maxDebateRounds)
      ) {
        invalid(
          ['debate', 'rounds'],
          `rounds must be a whole number from 1 to ${maxDebateRounds}, not ${debate.rounds}`,
          'the default is 2 rounds',
        );
      }
      if (names.filter((name) => name !== debate.judge).length < 2) {
        invalid(
          ['agents'],
          'a debate needs at least two debaters besides the judge',
          'add another agent to debate',
        );
      }
      break;
    }
    case 'router':
      checkRouter(council, agentRef, invalid);
      break;
    case 'graph':
      issues.push(...checkGraph(council, key, agentRef));
      if (council.output !== undefined) agentRef(council.output, ['output'], 'output agent');
      break;
  }

  if (strategy === 'vote') {
    council.agents.forEach((agent, a) => {
      if (agent.weight !== undefined && !(Number.isFinite(agent.weight) && agent.weight > 0)) {
        invalid(
          ['agents', a, 'weight'],
          `agent "${agent.name}" has weight ${agent.weight}`,
          'a weight is a positive number (default 1)',
        );
      }
    });
  }
  return issues;
}

/** Checks that `name` is an agent of the council; `role` names it in the message (`%s` = the name). */
type AgentRef = (name: string, path: Array<string | number>, role: string) => boolean;
type Invalid = (path: Array<string | number>, message: string, hint: string) => void;

function checkVote(council: StrategyCheckInput, agentRef: AgentRef, invalid: Invalid): void {
  const vote = council.vote ?? {};
  const rule = vote.rule ?? (vote.judge === undefined ? 'majority' : 'judge');
  if (!voteRules.includes(rule)) {
    invalid(['vote', 'rule'], `unknown vote rule "${rule}"`, `rule is one of ${voteRules.join(', ')}`);
    return;
  }
  if (rule === 'judge' && vote.judge === undefined) {
    invalid(['vote'], 'vote rule judge needs `judge: <agent>`', 'add judge: <agent name> under vote');
  }
  if (vote.judge !== undefined) {
    if (rule !== 'judge') {
      invalid(
        ['vote', 'judge'],
        `a judge only picks with rule judge, but the rule is ${rule}`,
        'remove judge, or set rule: judge',
      );
    } else {
      agentRef(vote.judge, ['vote', 'judge'], 'judge');
    }
  }
  const voters = council.agents.filter((agent) => rule !== 'judge' || agent.name !== vote.judge);
  if (voters.length === 0) {
    invalid(['agents'], 'a vote needs at least one voter besides the judge', 'add the agents that vote');
    return;
  }
  if (vote.quorum === undefined) return;
  if (!Number.isFinite(vote.quorum) || vote.quorum <= 0) {
    invalid(
      ['vote', 'quorum'],
      `quorum must be a positive number, not ${vote.quorum}`,
      'quorum is the weighted votes that must agree',
    );
    return;
  }
  if (rule === 'judge') {
    invalid(
      ['vote', 'quorum'],
      'a quorum needs rule majority or normalized: with rule judge the judge picks',
      'remove quorum, or pick another rule',
    );
    return;
  }
  const total = voters.reduce((sum, agent) => sum + (agent.weight ?? 1), 0);
  if (vote.quorum > total) {
    invalid(
      ['vote', 'quorum'],
      `quorum ${vote.quorum} can never be reached: the ${voters.length} voter${voters.length === 1 ? '' : 's'} weigh ${total} in total`,
      `use a quorum of at most ${total}, or add voters`,
    );
  }
}

function checkRouter(council: StrategyCheckInput, agentRef: AgentRef, invalid: Invalid): void {
  const router = council.router;
  if (router === undefined) {
    invalid(
      ['router'],
      'a router needs `router:` with routes and/or a model',
      'add router: { routes: [{ when: "refund", agent: <name> }], default: <name> }',
    );
    return;
  }
  router.routes?.forEach((route, r) => {
    try {
      new RegExp(route.when, 'i');
    } catch (error) {
      const reason =
        error instanceof Error ? error.message.replace(/^Invalid regular expression: /, '') : String(error);
      invalid(
        ['router', 'routes', r, 'when'],
        `route ${r + 1} has an invalid regular expression: ${reason}`,
        'write a JavaScript regular expression (tested case-insensitively); escape ( ) [ ] with a backslash',
      );
    }
    agentRef(route.agent, ['router', 'routes', r, 'agent'], 'route agent');
  });
  if (router.default !== undefined) agentRef(router.default, ['router', 'default'], 'default agent');
  if (router.model !== undefined && (typeof router.model !== 'string' || router.model === '')) {
    invalid(['router', 'model'], 'router.model must be a model id', 'name a model of the registry');
  }
  if ((router.routes?.length ?? 0) === 0 && router.model === undefined) {
    invalid(
      ['router'],
      'a router needs routes or a model to pick an agent',
      'add routes: [{ when: <regex>, agent: <name> }] or model: <model id>',
    );
  }
}

function checkGraph(
  council: StrategyCheckInput,
  key: (name: string) => string,
  agentRef: AgentRef,
): StrategyIssue[] {
  const issues: StrategyIssue[] = [];
  const graph = new Map<string, string[]>();
  council.agents.forEach((agent, a) => {
    const deps = agent.dependsOn ?? [];
    const seen = new Set<string>();
    deps.forEach((dep, d) => {
      const path = ['agents', a, 'dependsOn', d];
      if (seen.has(dep)) {
        issues.push({
          code: 'config_invalid',
          path,
          message: `council "${council.name}": agent "${agent.name}" lists "${dep}" twice in ${key('dependsOn')}`,
          hint: 'list each dependency once',
        });
      }
      seen.add(dep);
      agentRef(dep, path, `agent "${agent.name}" depends on %s, which`);
    });
    graph.set(agent.name, [...deps]);
  });
  const cycle = findCycle(graph as DependencyGraph);
  if (cycle !== undefined) {
    const index = new Map(council.agents.map((agent, a) => [agent.name, a]));
    const edges: CycleEdge[] = [];
    for (let i = 0; i + 1 < cycle.length; i++) {
      const from = cycle[i] as string;
      const to = cycle[i + 1] as string;
      const a = index.get(from) ?? 0;
      const d = council.agents[a]?.dependsOn?.indexOf(to) ?? 0;
      edges.push({ from, to, path: ['agents', a, 'dependsOn', d] });
    }
    issues.push({
      code: 'graph_cycle',
      path: edges[0]?.path ?? ['agents'],
      message: `council "${council.name}" has a dependency cycle: ${formatCycle(cycle)}`,
      hint: `an agent cannot wait for itself; remove one of these ${key('dependsOn')} entries`,
      details: { cycle },
      edges,
    });
  }
  return issues;
}
