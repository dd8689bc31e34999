/** Plain, serialisable descriptions of councils and agents: what YAML loads into and what the TS API builds. */

export type RecursionFallback = 'ReAsk' | 'Escalate' | 'BestSoFar' | 'Fail';

export interface RecursionPolicySpec {
  /** Deepest sub-agent level below the council's agents (default 3). */
  maxDepth: number;
  /** Conditions over a step's result fields, e.g. `confidence < 0.6`. */
  triggerOn: string[];
  fallback: RecursionFallback;
}

export interface AgentSpec {
  name: string;
  /** A model id from the registry. */
  model: string;
  /** Model ids tried in order when `model` fails with any error but an abort. */
  fallback?: string[];
  /** System prompt. */
  instructions?: string;
  /** Skill names resolved from the skill registry. */
  skills?: string[];
  maxTokens?: number;
  temperature?: number;
  /** Model/tool loop steps per turn (default 5). */
  maxSteps?: number;
}

export interface KnowledgeDocument {
  /** Stable id; defaults to a hash of the text so restarts do not duplicate. */
  id?: string;
  text: string;
  meta?: Record<string, string | number | boolean>;
}

export interface CouncilSpec {
  name: string;
  description?: string;
  strategy?: 'pipeline';
  /** Memory URL (default: the harness memory). */
  memory?: string;
  /** Model id whose embeddings give the council memory semantic recall. */
  embeddingModel?: string;
  recursionDepth?: number;
  recursion?: Partial<RecursionPolicySpec>;
  /** Documents remembered in the council memory at start (idempotent), for the Search skill. */
  knowledge?: Array<string | KnowledgeDocument>;
  agents: AgentSpec[];
}

export interface TelemetrySpec {
  exporter?: 'otlp' | 'console' | 'none';
  endpoint?: string;
  serviceName?: string;
}
