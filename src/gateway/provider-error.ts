/** Maps whatever a provider threw to a secret-free `HarnessError`. */
import { APICallError } from '@ai-sdk/provider';
import { HarnessError } from '../errors.ts';
import type { Redactor } from '../models/credentials.ts';

/**
 * Wraps a provider failure as `provider_error` (HarnessErrors and aborts pass through), with
 * the HTTP status, `isRetryable` from the AI SDK, and every known secret redacted from the text.
 */
export function toProviderError(
  error: unknown,
  modelId: string,
  redactor: Redactor | undefined,
  signal?: AbortSignal,
): HarnessError {
  if (HarnessError.isInstance(error)) return error;
  if (signal?.aborted || (error instanceof Error && error.name === 'AbortError')) {
    return new HarnessError('aborted', `the call to model "${modelId}" was aborted`, {
      cause: signal?.reason ?? error,
    });
  }
  const redact = (text: string) => (redactor ? redactor.redact(text) : text);
  if (APICallError.isInstance(error)) {
    const status = error.statusCode;
    const retryAfter = error.responseHeaders?.['retry-after'];
    return new HarnessError(
      'provider_error',
      redact(`model "${modelId}" failed${status ? ` with HTTP ${status}` : ''}: ${error.message}`),
      {
        isRetryable: error.isRetryable,
        hint: hintFor(status),
        details: {
          model: modelId,
          ...(status === undefined ? {} : { statusCode: status }),
          ...(retryAfter === undefined ? {} : { retryAfter }),
        },
      },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new HarnessError('provider_error', redact(`model "${modelId}" failed: ${message}`), {
    // Network-level failures (reset, refused, cut stream) may succeed on another try.
    isRetryable: true,
    details: { model: modelId },
  });
}

function hintFor(status: number | undefined): string | undefined {
  if (status === 401 || status === 403) return 'check the API key the model entry points at (api_key)';
  if (status === 404) return 'check the model name (`model:`) and the endpoint';
  if (status === 429) return 'the provider is rate limiting: lower concurrency or add a fallback model';
  if (status !== undefined && status >= 500) return 'the provider is failing: add a fallback model';
  return undefined;
}
