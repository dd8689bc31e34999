/** `Council`: a named group of agents that cooperate on a request (a pipeline by default). */
import { formatYamlPath } from '../config/yaml-source.ts';
import { HarnessError } from '../errors.ts';
import { Memory } from '../memory/index.ts';
import { Agent } from './agent.ts';
import { parseLimits, type RunLimits } from './budget.ts';
import type { RecursionPolicy } from './recursion-policy.ts';
import type { Priority } from './scheduler/types.ts';
import type {
  CouncilSpec,
  CouncilStrategy,
  DebateSpec,
  KnowledgeDocument,
  RouterSpec,
  RouteSpec,
  VoteRule,
  VoteSpec,
} from './spec.ts';
import { checkStrategy, type StrategyIssue } from './strategy-check.ts';

export interface CouncilOptions {
  name: string;
  description?: string;
  agents: Array<Agent | CouncilSpec['agents'][number]>;
  /** How the agents cooperate (default `pipeline`); see docs/councils.md. */
  strategy?: CouncilStrategy;
  /** `parallel`: the agent that merges the others' outputs (default: outputs joined in agent order). */
  merge?: string;
  /** `vote`: rule, quorum and judge (default: rule `majority`, no quorum). */
  vote?: VoteSpec;
  /** `debate` (required there): the judge and the number of rounds (default 2). */
  debate?: DebateSpec;
  /** `router` (required there): rules, a model that picks, and the default agent. */
  router?: RouterSpec;
  /** `graph`: the agent whose output is the council's (default: the single sink, or all sinks joined). */
  output?: string;
  /** A `Memory`, or a memory URL (default: the harness default memory). */
  memory?: Memory | string;
  /** Model id whose embeddings give this council's memory semantic recall (default: lexical). */
  embeddingModel?: string;
  recursion?: RecursionPolicy;
  knowledge?: Array<string | KnowledgeDocument>;
  /** Limits of every run of this council, shared by its agents and their sub-agents; a run's own limits can only tighten them. */
  limits?: RunLimits;
  /** Scheduling priority of its runs (default `normal`; a run's own priority wins). */
  priority?: Priority;
}

/** A `vote` council's options with defaults applied. */
export interface VoteSettings {
  rule: VoteRule;
  /** Weighted votes that must agree; absent: every voter answers and the heaviest answer wins. */
  quorum?: number;
  /** Set exactly when `rule` is `judge`. */
  judge?: string;
}

/** A `debate` council's options with defaults applied. */
export interface DebateSettings {
  rounds: number;
  judge: string;
}

/** A `router` council's options with defaults applied. */
export interface RouterSettings {
  routes: ReadonlyArray<RouteSpec>;
  /** The model id that picks when no rule matches; absent: no model, straight to `default`. */
  model?: string;
  /** The council's first agent unless set. */
  default: string;
}

export class Council {
  readonly name: string;
  readonly description: string | undefined;
  readonly strategy: CouncilStrategy;
  /** `parallel` only: the merge agent's name. */
  readonly merge: string | undefined;
  /** Set for `vote` councils (defaults applied), else undefined. */
  readonly vote: Readonly<VoteSettings> | undefined;
  /** Set for `debate` councils, else undefined. */
  readonly debate: Readonly<DebateSettings> | undefined;
  /** Set for `router` councils, else undefined. */
  readonly router: Readonly<RouterSettings> | undefined;
  /** `graph` only: the output agent's name when one is set. */
  readonly output: string | undefined;
  readonly agents: readonly Agent[];
  readonly memory: Memory | undefined;
  readonly embeddingModel: string | undefined;
  readonly recursion: RecursionPolicy | undefined;
  readonly knowledge: ReadonlyArray<string | KnowledgeDocument>;
  readonly limits: RunLimits;
  readonly priority: Priority | undefined;

  /**
   * Builds and validates a council. Throws `config_invalid` for a missing name, duplicate
   * agents or invalid strategy options (unknown agent names, an option of another strategy, an
   * unreachable quorum, an invalid route expression), `council_empty` without agents, and
   * `graph_cycle` when `dependsOn` forms a cycle; `location.path` names the option, such as
   * `Council.agents[2].dependsOn[0]`.
   */
  constructor(options: CouncilOptions) {
    if (!options.name)
      throw new HarnessError('config_invalid', 'a Council needs a name', {
        location: { path: 'Council.name' },
      });
    if (!options.agents || options.agents.length === 0) {
      throw new HarnessError('council_empty', `council "${options.name}" has no agents`, {
        location: { path: 'Council.agents' },
        hint: 'add at least one agent: agents: [new Agent({ name, model })]',
      });
    }
    const agents = options.agents.map((a) => (a instanceof Agent ? a : new Agent(a)));
    const seen = new Set<string>();
    for (const agent of agents) {
      if (seen.has(agent.name)) {
        throw new HarnessError(
          'config_invalid',
          `council "${options.name}" has two agents named "${agent.name}"`,
          {
            location: { path: 'Council.agents' },
            hint: 'give every agent of a council its own name',
          },
        );
      }
      seen.add(agent.name);
    }
    const issues = checkStrategy(
      {
        name: options.name,
        strategy: options.strategy,
        merge: options.merge,
        vote: options.vote,
        debate: options.debate,
        router: options.router,
        output: options.output,
        agents: agents.map((agent) => agent.spec),
      },
      'ts',
    );
    const first = issues[0];
    if (first !== undefined) throw strategyError(first, issues);
    const strategy = options.strategy ?? 'pipeline';
    this.name = options.name;
    this.description = options.description;
    this.strategy = strategy;
    this.merge = options.merge;
    this.output = options.output;
    this.vote =
      strategy !== 'vote'
        ? undefined
        : Object.freeze({
            rule: options.vote?.rule ?? (options.vote?.judge === undefined ? 'majority' : 'judge'),
            ...(options.vote?.quorum === undefined ? {} : { quorum: options.vote.quorum }),
            ...(options.vote?.judge === undefined ? {} : { judge: options.vote.judge }),
          });
    this.debate =
      strategy !== 'debate' || options.debate === undefined
        ? undefined
        : Object.freeze({ rounds: options.debate.rounds ?? 2, judge: options.debate.judge });
    this.router =
      strategy !== 'router' || options.router === undefined
        ? undefined
        : Object.freeze({
            routes: Object.freeze((options.router.routes ?? []).map((route) => ({ ...route }))),
            ...(options.router.model === undefined ? {} : { model: options.router.model }),
            default: options.router.default ?? (agents[0] as Agent).name,
          });
    this.agents = agents;
    this.memory = options.memory === undefined ? undefined : Memory.from(options.memory);
    this.embeddingModel = options.embeddingModel;
    this.recursion = options.recursion;
    this.knowledge = options.knowledge ?? [];
    this.limits = parseLimits(options.limits, 'Council.limits');
    this.priority = options.priority;
  }

  /** The agent named `name`; an unknown name is `config_invalid` (validation makes that a bug). */
  agent(name: string): Agent {
    const agent = this.agents.find((a) => a.name === name);
    if (agent) return agent;
    throw new HarnessError('config_invalid', `council "${this.name}" has no agent "${name}"`, {
      hint: `its agents are ${this.agents.map((a) => a.name).join(', ')}`,
    });
  }
}

function tsPath(path: ReadonlyArray<string | number>): string {
  return `Council.${formatYamlPath(path)}`;
}

/** The first strategy issue as a `HarnessError` with TS option paths; `details.issues` lists all. */
function strategyError(first: StrategyIssue, issues: readonly StrategyIssue[]): HarnessError {
  const edges = first.edges?.map((edge) => ({ from: edge.from, to: edge.to, path: tsPath(edge.path) }));
  return new HarnessError(first.code, first.message, {
    location: { path: tsPath(first.path) },
    hint:
      edges === undefined
        ? first.hint
        : `${first.hint}: ${edges.map((edge) => `${edge.path} (${edge.from} -> ${edge.to})`).join(', ')}`,
    details: {
      ...first.details,
      ...(edges === undefined ? {} : { edges }),
      issues: issues.map((issue) => ({ code: issue.code, path: tsPath(issue.path), message: issue.message })),
    },
  });
}
