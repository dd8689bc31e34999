/** `Agent`: a named role in a council, with a model, instructions and skills. */
import { HarnessError } from '../errors.ts';
import type { AnySkill } from './skill.ts';
import type { AgentSpec } from './spec.ts';

export interface AgentOptions extends Omit<AgentSpec, 'skills'> {
  /** Skill instances, or names resolved from the harness skill registry at start. */
  skills?: Array<AnySkill | string>;
}

export class Agent {
  readonly name: string;
  readonly model: string;
  readonly spec: AgentSpec;
  /** Skills given as instances; names in `spec.skills` without an instance resolve from the registry. */
  readonly skillInstances: ReadonlyArray<AnySkill>;

  constructor(options: AgentOptions) {
    if (!options.name)
      throw new HarnessError('config_invalid', 'an Agent needs a name', { location: { path: 'Agent.name' } });
    if (!options.model) {
      throw new HarnessError('config_invalid', `agent "${options.name}" needs a model id`, {
        location: { path: 'Agent.model' },
        hint: 'pass model: "<id from your registry>"',
      });
    }
    const skills = options.skills ?? [];
    this.name = options.name;
    this.model = options.model;
    this.skillInstances = skills.filter((s): s is AnySkill => typeof s !== 'string');
    this.spec = { ...options, skills: skills.map((s) => (typeof s === 'string' ? s : s.name)) };
  }
}
