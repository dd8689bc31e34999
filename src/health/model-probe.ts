/**
 * The model probe: a real, cheap request to one model of the registry (a one-word prompt with a
 * small output cap, straight through the AI SDK model, without the gateway's retries, fallbacks
 * or breakers, so it sees the model as it is). It sends at most one request per `intervalMs`;
 * between two, `check` answers the last result. A failure is a `down` (or `degraded` when the
 * provider only rate-limits us) result with the failure kind, never a throw.
 */
import type { LanguageModelV4 } from '@ai-sdk/provider';
import { HarnessError } from '../errors.ts';
import { classifyFailure } from '../gateway/classify.ts';
import type { Probe, ProbeCheck } from './probe.ts';

/** What the model probe needs of the registry (`ModelRegistry` is one). */
export interface ModelSource {
  resolve(id: string): { model: LanguageModelV4 };
}

export interface ModelProbeOptions {
  /** Least time between two real requests, ms (default 60 000: each one is a paid call). */
  intervalMs?: number;
  /** A request that takes longer is aborted and the model is `down`, ms (default 10 000). */
  timeoutMs?: number;
  /**
   * Output cap of the request (default 16: OpenAI's Responses API and Azure refuse a
   * `max_output_tokens` below 16 with a 400, which would report a healthy model as down).
   */
  maxOutputTokens?: number;
  /** The prompt (default `ping`). */
  prompt?: string;
  /** Whether a failure makes the process not ready (default false: fallbacks may cover it). */
  critical?: boolean;
  /** Removes secrets from error text before it becomes the detail (e.g. `harness.redact`). */
  redact?: (text: string) => string;
  now?: () => number;
}

/** Longest detail kept from a provider's error message, characters. */
const maxDetail = 300;

/** Builds the probe of model `id` (named `model:<id>`). */
export function createModelProbe(models: ModelSource, id: string, options: ModelProbeOptions = {}): Probe {
  const intervalMs = options.intervalMs ?? 60_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxOutputTokens = options.maxOutputTokens ?? 16;
  const prompt = options.prompt ?? 'ping';
  const redact = options.redact ?? ((text: string) => text);
  const now = options.now ?? Date.now;
  let last: { at: number; result: ProbeCheck } | undefined;
  let inFlight: Promise<ProbeCheck> | undefined;

  const request = async (signal: AbortSignal): Promise<ProbeCheck> => {
    const started = now();
    const abortSignal = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
    try {
      const { model } = models.resolve(id);
      const result = await model.doGenerate({
        prompt: [{ role: 'user', content: [{ type: 'text', text: prompt }] }],
        maxOutputTokens,
        abortSignal,
      });
      const latencyMs = now() - started;
      return {
        status: 'up',
        detail: `answered in ${latencyMs} ms`,
        data: { latencyMs, finishReason: result.finishReason.unified },
      };
    } catch (error) {
      const latencyMs = now() - started;
      const failure = classifyFailure(error, signal.aborted ? signal : undefined);
      const kind = HarnessError.isInstance(error) && failure.kind === 'unknown' ? error.code : failure.kind;
      const message = error instanceof Error ? error.message : String(error);
      const status = failure.statusCode === undefined ? '' : ` (HTTP ${failure.statusCode})`;
      const text = redact(`${kind}${status}: ${message}`);
      return {
        // A rate-limited model answers, just not now: it is degraded, not gone.
        status: failure.kind === 'rate_limit' ? 'degraded' : 'down',
        detail: text.length > maxDetail ? `${text.slice(0, maxDetail)}…` : text,
        data: {
          latencyMs,
          kind,
          ...(failure.statusCode === undefined ? {} : { statusCode: failure.statusCode }),
          ...(failure.retryAfterMs === undefined ? {} : { retryAfterMs: failure.retryAfterMs }),
        },
      };
    }
  };

  return {
    name: `model:${id}`,
    kind: 'provider',
    critical: options.critical ?? false,
    // The request has its own timeout; the monitor waits a little longer so the probe's own
    // failure (with its kind) is what gets reported.
    timeoutMs: timeoutMs + 1_000,
    check(signal) {
      if (last && now() - last.at < intervalMs) return Promise.resolve(last.result);
      inFlight ??= request(signal)
        .then((result) => {
          last = { at: now(), result };
          return result;
        })
        .finally(() => {
          inFlight = undefined;
        });
      return inFlight;
    },
  };
}
