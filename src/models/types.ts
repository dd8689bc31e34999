import type { BreakerOptions } from '../gateway/breaker.ts';
import type { HedgeOptions } from '../gateway/hedge.ts';
import type { ModelTimeouts } from '../gateway/timeouts.ts';
import type { CanaryTestOptions } from '../learning/sprt.ts';

/** The camelCase, typed form of one `models:` entry of the registry. */
export type ModelType =
  | 'openai'
  | 'anthropic'
  | 'google'
  | 'openai-compatible'
  | 'local'
  | 'simulated'
  /** Not a provider: one id that asks several registry models and votes (see {@link EnsembleSpec}). */
  | 'ensemble'
  /** Not a provider: one id whose calls are split between a stable and a candidate model (see {@link CanarySpec}). */
  | 'canary';

export type ModelCapability = 'tools' | 'vision' | 'json' | 'streaming' | 'embeddings';

export interface SimulatedRule {
  /** Case-insensitive regular expression tested against the last user message. */
  when: string;
  /** Reply template: `{{input}}` is the last user message, `{{agent}}` the system prompt's first line. */
  reply: string;
}

export interface ModelEntry {
  /** The id councils use. */
  id: string;
  /** A built-in type, or one added with `registerProviderType()` (TS API only; YAML takes the built-ins). */
  type: ModelType | (string & {});
  /** The provider's own model name; defaults to `id`. */
  model?: string;
  /** OpenAI only: which API (default `responses`). */
  api?: 'chat' | 'responses';
  /** Credential reference: `env:NAME`, `file:/path`, `cmd:program args`, or a literal. */
  apiKey?: string;
  /**
   * A key pool: several credential references, used in order; a key the provider keeps refusing
   * (401/403 after a refresh) is skipped for the next (docs/models.md#resilience). Takes the place
   * of `apiKey`. YAML: `api_keys: [...]`, or a list under `api_key`.
   */
  apiKeys?: string[];
  /** Base URL of the provider API. */
  endpoint?: string;
  /** `local` only: path of a GGUF file. */
  path?: string;
  headers?: Record<string, string>;
  /** Tokens accepted, prompt plus output. */
  contextWindow?: number;
  maxOutputTokens?: number;
  /** USD per million tokens. */
  pricePerMtok?: { input: number; output: number };
  capabilities?: ModelCapability[];
  /** Embedding models: vector length (simulated: default 256). */
  dimensions?: number;
  /**
   * Calls slower than this (ms) count as slow: time to first token for streams, latency for
   * non-streaming calls. A slow call counts as a failure for the model's circuit breaker.
   */
  latencyThresholdMs?: number;
  /** Connect, first-token, between-token and total timeouts, ms (docs/models.md#resilience). */
  timeouts?: ModelTimeouts;
  /** When this model's circuit breaker (and its keys') opens and for how long (defaults: `defaultBreakerOptions`). */
  breaker?: Partial<BreakerOptions>;
  /** Hedged requests: send the call to the next model of the chain too when this one is slow to start. */
  hedge?: HedgeOptions;
  /** `simulated` only: added latency per call, ms. */
  latencyMs?: number;
  /** `simulated` only: scripted replies, first match wins. */
  rules?: SimulatedRule[];
  /** Client-side limits the scheduler's call limiter enforces for this model (see docs/scheduler.md). */
  rateLimits?: ModelRateLimits;
  /** `ensemble` only (and required there): the members and how they vote. */
  ensemble?: EnsembleSpec;
  /** `canary` only (and required there): the two models and how calls are split and judged. */
  canary?: CanarySpec;
}

/**
 * A canary release of a model assignment (docs/self-healing.md): calls to the canary's id go to
 * `stable`, and a `share` of them to `candidate`; a sequential test on errors, latency and scores
 * promotes the candidate or rolls it back, and the decision is kept in the `state` file.
 */
export interface CanarySpec {
  /** The model id in service. */
  stable: string;
  /** The model id on trial (not `stable`, not the canary itself). */
  candidate: string;
  /** Share of calls routed to the candidate while the canary runs, (0, 1]; default 0.1. */
  share?: number;
  /**
   * The state file, `sqlite://path` (relative to the config file in YAML) or a path; default
   * `$FORGE_CANARY_URL`, else `sqlite://.forge/canary.db`.
   */
  state?: string;
  /** The sequential test's options (alpha, beta, minSamples, margins; see `CanaryTestOptions`). */
  test?: CanaryTestOptions;
}

/**
 * How an ensemble's answers are compared: `exact` (equal after trimming outer whitespace),
 * `normalized` (equal up to case, whitespace and punctuation), `semantic` (cosine similarity of
 * embeddings at least `similarity`), `judge` (a judge model picks among the distinct answers).
 */
export type EnsembleVote = 'exact' | 'normalized' | 'semantic' | 'judge';

/** An ensemble: one model id that sends each call to several registry models and votes (docs/models.md#ensembles). */
export interface EnsembleSpec {
  /** Model ids asked at once: at least 2, no repeats; a member may be an ensemble itself, but not in a cycle. */
  members: string[];
  /** How answers are compared (default `normalized`). */
  vote?: EnsembleVote;
  /**
   * Weighted votes that must agree (k of n): the call finishes as soon as one answer has them and
   * the members still running are aborted; it fails with `no_quorum` once none can. At most the
   * members' total weight. Default: every member answers, the heaviest answer wins.
   */
  quorum?: number;
  /** Vote weight per member id, > 0 (default 1 each). */
  weights?: Record<string, number>;
  /** `vote: judge` only (and required there): the model id that picks the best answer. */
  judge?: string;
  /** `vote: semantic` only (and required there): the model id whose embeddings compare answers. */
  embeddingModel?: string;
  /** `vote: semantic` only: cosine similarity, 0..1, from which two answers agree (default 0.9). */
  similarity?: number;
}

/** What a provider allows for one model; the limiter also learns from its rate-limit headers. */
export interface ModelRateLimits {
  /** Requests per minute (token bucket of this size, refilled continuously). */
  rpm?: number;
  /** Tokens per minute, prompt plus output (charged with an estimate, corrected with actual usage). */
  tpm?: number;
  /** Calls in flight at most; adaptive concurrency starts here and never exceeds it (default 64). */
  maxConcurrency?: number;
}
