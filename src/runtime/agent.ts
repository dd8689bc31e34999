/** `Agent`: a named role in a council, with a model, instructions and skills. */
import { HarnessError } from '../errors.ts';
import type { Skill } from './skill.ts';
import type { AgentSpec } from './spec.ts';

export interface AgentOptions extends Omit<AgentSpec, 'skills'> {
  /** Skill instances, or names resolved from the harness skill registry at start. */
  skills?: Array<Skill<never, unknown> | string>;
}

export class Agent {
  readonly name: string;
  readonly model: string;
  readonly spec: AgentSpec;
  /** Skills given as instances; names in `spec.skills` without an instance resolve from the registry. */
  readonly skillInstances: ReadonlyArray<Skill<never, unknown>>;

  constructor(options: AgentOptions) {
    if (!options.name) throw new HarnessError('config_invalid', 'an Agent needs a name', { location: { path: 'Agent.name' } });
    if (!options.model) {
      throw new HarnessError('config_invalid', `agent "${options.name}" needs a model id`, {
        location: { path: 'Agent.model' },
        hint: 'pass model: "<id from your registry>"',
      });
    }
    const skills = options.skills ?? [];
    this.name = options.name;
    this.model = options.model;
    this.skillInstances = skills.filter((s): s is Skill<never, unknown> => typeof s !== 'string');
    this.spec = { ...options, skills: skills.map((s) => (typeof s === 'string' ? s : s.name)) };
  }
}
