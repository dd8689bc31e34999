/** `Council`: a named group of agents that cooperate on a request (a pipeline by default). */
import { HarnessError } from '../errors.ts';
import { Memory } from '../memory/index.ts';
import { Agent } from './agent.ts';
import type { RecursionPolicy } from './recursion-policy.ts';
import type { CouncilSpec, KnowledgeDocument } from './spec.ts';

export interface CouncilOptions {
  name: string;
  description?: string;
  agents: Array<Agent | CouncilSpec['agents'][number]>;
  strategy?: 'pipeline';
  /** A `Memory`, or a memory URL (default: the harness default memory). */
  memory?: Memory | string;
  /** Model id whose embeddings give this council's memory semantic recall (default: lexical). */
  embeddingModel?: string;
  recursion?: RecursionPolicy;
  knowledge?: Array<string | KnowledgeDocument>;
}

export class Council {
  readonly name: string;
  readonly description: string | undefined;
  readonly strategy: 'pipeline';
  readonly agents: readonly Agent[];
  readonly memory: Memory | undefined;
  readonly embeddingModel: string | undefined;
  readonly recursion: RecursionPolicy | undefined;
  readonly knowledge: ReadonlyArray<string | KnowledgeDocument>;

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
    this.name = options.name;
    this.description = options.description;
    this.strategy = options.strategy ?? 'pipeline';
    this.agents = agents;
    this.memory = options.memory === undefined ? undefined : Memory.from(options.memory);
    this.embeddingModel = options.embeddingModel;
    this.recursion = options.recursion;
    this.knowledge = options.knowledge ?? [];
  }
}
