/** Council strategies by name: the executor runs `strategies[council.strategy]`. */
import { pipeline } from './pipeline.ts';
import type { Strategy } from './types.ts';

export type StrategyName = 'pipeline';

export const strategies: Record<StrategyName, Strategy> = { pipeline };

export type {
  AgentStepResult,
  CouncilContext,
  Decision,
  DecisionKind,
  StepOptions,
  Strategy,
  StrategyResult,
} from './types.ts';
