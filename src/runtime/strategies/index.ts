/** Council strategies by name: the executor runs `strategies[council.strategy]`. */
import type { CouncilStrategy } from '../spec.ts';
import { debate } from './debate.ts';
import { graph } from './graph.ts';
import { parallel } from './parallel.ts';
import { pipeline } from './pipeline.ts';
import { router } from './router.ts';
import type { Strategy } from './types.ts';
import { vote } from './vote.ts';

export type StrategyName = CouncilStrategy;

export const strategies: Record<StrategyName, Strategy> = { pipeline, parallel, vote, debate, router, graph };

export type {
  AgentStepResult,
  CouncilContext,
  Decision,
  DecisionKind,
  StepOptions,
  Strategy,
  StrategyResult,
} from './types.ts';
