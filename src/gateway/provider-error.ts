/** Maps whatever a provider threw to a secret-free `HarnessError`, classified (see classify.ts). */
import { APICallError } from '@ai-sdk/provider';
import { HarnessError } from '../errors.ts';
import type { Redactor } from '../models/credentials.ts';
import { classifyFailure } from './classify.ts';

/**
 * Wraps a provider failure as `provider_error` (HarnessErrors pass through; an abort is
 * `aborted`), with `details.kind` from the failure taxonomy, `details.statusCode`,
 * `details.retryAfterMs` when the provider asked for a wait, `isRetryable` by kind, and every
 * known secret redacted from the text.
 */
export function toProviderError(
  error: unknown,
  modelId: string,
  redactor: Redactor | undefined,
  signal?: AbortSignal,
): HarnessError {
  if (HarnessError.isInstance(error)) return error;
  const failure = classifyFailure(error, signal);
  if (failure.kind === 'aborted') {
    return new HarnessError('aborted', `the call to model "${modelId}" was aborted`, {
      cause: signal?.reason ?? error,
    });
  }
  const redact = (text: string) => (redactor ? redactor.redact(text) : text);
  const status = failure.statusCode;
  const message = error instanceof Error ? error.message : String(error);
  const retryAfterHeader = APICallError.isInstance(error)
    ? error.responseHeaders?.['retry-after']
    : undefined;
  return new HarnessError(
    'provider_error',
    redact(`model "${modelId}" failed${status ? ` with HTTP ${status}` : ''} (${failure.kind}): ${message}`),
    {
      isRetryable: failure.retryable,
      hint: hintFor(failure.kind),
      details: {
        model: modelId,
        kind: failure.kind,
        ...(status === undefined ? {} : { statusCode: status }),
        ...(retryAfterHeader === undefined ? {} : { retryAfter: retryAfterHeader }),
        ...(failure.retryAfterMs === undefined ? {} : { retryAfterMs: failure.retryAfterMs }),
      },
    },
  );
}

function hintFor(kind: string): string | undefined {
  switch (kind) {
    case 'auth':
      return 'check the API key the model entry points at (api_key)';
    case 'not_found':
      return 'check the model name (`model:`) and the endpoint';
    case 'rate_limit':
      return 'the provider is rate limiting: lower concurrency or add a fallback model';
    case 'overloaded':
    case 'server':
      return 'the provider is failing: add a fallback model';
    case 'timeout':
    case 'network':
      return 'the provider could not be reached in time: check the endpoint and network, or add a fallback';
    case 'context_too_long':
      return 'shorten the prompt or use a model with a larger context window';
    case 'bad_request':
      return 'the provider refused the request as malformed; retrying will not help';
    default:
      return undefined;
  }
}
