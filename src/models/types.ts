/** The camelCase, typed form of one `models:` entry of the registry. */
export type ModelType = 'openai' | 'anthropic' | 'google' | 'openai-compatible' | 'local' | 'simulated';

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
  /** Credential reference: `env:NAME`, `file:/path`, or a literal. */
  apiKey?: string;
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
  /** Calls slower than this (ms) count as slow. */
  latencyThresholdMs?: number;
  /** `simulated` only: added latency per call, ms. */
  latencyMs?: number;
  /** `simulated` only: scripted replies, first match wins. */
  rules?: SimulatedRule[];
  /** Client-side limits the scheduler's call limiter enforces for this model (see docs/scheduler.md). */
  rateLimits?: ModelRateLimits;
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
