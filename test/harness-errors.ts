/** Assertion helpers for tests that expect a `HarnessError`: any other outcome fails the test. */
import { HarnessError } from '../src/errors.ts';

/** The HarnessError `fn` throws; anything else thrown is rethrown, and no throw is a failure. */
export function thrown(fn: () => unknown): HarnessError {
  try {
    fn();
  } catch (error) {
    if (HarnessError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected a HarnessError, nothing was thrown');
}

/** The HarnessError `promise` rejects with; a fulfilment or another rejection fails the test. */
export async function rejection(promise: Promise<unknown>): Promise<HarnessError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!HarnessError.isInstance(error)) throw new Error(`expected a HarnessError, got ${String(error)}`);
  return error;
}
