/**
 * The one error family of forge-harness. Every failure the harness reports is a
 * {@link HarnessError} with a stable snake_case `code`; callers branch on `code`
 * (or {@link HarnessError.isInstance}), never on `message`.
 */

const marker = Symbol.for('forge-harness.error');

/** Every stable error code. The server maps code → HTTP status, the CLI maps code → exit code. */
export type HarnessErrorCode =
  | 'config_invalid'
  | 'config_yaml_syntax'
  | 'config_not_found'
  | 'unknown_model'
  | 'unknown_skill'
  | 'unknown_council'
  | 'unknown_provider_type'
  | 'unknown_memory_scheme'
  | 'council_empty'
  | 'missing_credential'
  | 'prompt_invalid'
  | 'context_too_long'
  | 'gguf_unavailable'
  | 'provider_error'
  | 'skill_failed'
  | 'skill_input_invalid'
  | 'memory_error'
  | 'harness_not_started'
  | 'limit_exceeded'
  | 'graph_cycle'
  /** A vote ended without an answer: every voter failed, or no answer could reach the quorum. */
  | 'no_quorum'
  | 'recursion_loop'
  | 'trigger_invalid'
  | 'trigger_failed'
  | 'quota_exceeded'
  | 'overloaded'
  | 'mcp_error'
  | 'skill_bundle_invalid'
  | 'journal_error'
  /** The canary state file (docs/self-healing.md) could not be opened, read or written. */
  | 'canary_error'
  | 'unknown_run'
  | 'resume_invalid'
  /** A supervised worker process kept crashing beyond its restart budget; the supervisor gave up. */
  | 'worker_crash_loop'
  | 'aborted'
  | 'cli_usage'
  | 'script_exhausted'
  | 'fake_spec_invalid'
  | 'internal';

/** Where in a config file an error points. Lines and columns are 1-based. */
export interface SourceLocation {
  file?: string;
  /** YAML path such as `councils[0].agents[1].model`, or a JSON pointer for API payloads. */
  path: string;
  line?: number;
  column?: number;
}

export interface HarnessErrorOptions {
  cause?: unknown;
  /** True when the same call may succeed if tried again (rate limit, overload, network). */
  isRetryable?: boolean | undefined;
  /** What would fix it, shown after the message. */
  hint?: string | undefined;
  location?: SourceLocation | undefined;
  /** Structured, secret-free facts for programs (e.g. `{ model, limit, count }`). */
  details?: Record<string, unknown> | undefined;
}

/** Base class of every error forge-harness throws or reports. */
export class HarnessError extends Error {
  readonly code: HarnessErrorCode;
  readonly isRetryable: boolean;
  readonly hint: string | undefined;
  readonly location: SourceLocation | undefined;
  readonly details: Record<string, unknown>;
  readonly [marker] = true;

  constructor(code: HarnessErrorCode, message: string, options: HarnessErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HarnessError';
    this.code = code;
    this.isRetryable = options.isRetryable ?? false;
    this.hint = options.hint;
    this.location = options.location;
    this.details = options.details ?? {};
  }

  /** True for any HarnessError, also one created by another copy of this package. */
  static isInstance(error: unknown): error is HarnessError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }

  /** One human line: location, message and hint, as the CLI prints it. */
  format(): string {
    const where = this.location ? `${formatLocation(this.location)}: ` : '';
    const hint = this.hint ? `\n  hint: ${this.hint}` : '';
    return `${where}${this.message}${hint}`;
  }

  /** A plain, secret-free object for events, logs and JSON output. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      isRetryable: this.isRetryable,
      ...(this.hint === undefined ? {} : { hint: this.hint }),
      ...(this.location === undefined ? {} : { location: this.location }),
      ...(Object.keys(this.details).length === 0 ? {} : { details: this.details }),
    };
  }
}

/** `file:line:column (path)` with whatever parts are known. */
export function formatLocation(location: SourceLocation): string {
  let out = location.file ?? '';
  if (location.line !== undefined) out += `${out ? ':' : 'line '}${location.line}`;
  if (location.column !== undefined) out += `:${location.column}`;
  if (location.path) out += out ? ` (${location.path})` : location.path;
  return out;
}

/** Wraps anything thrown into a HarnessError, keeping HarnessErrors as they are. */
export function toHarnessError(error: unknown, code: HarnessErrorCode = 'internal'): HarnessError {
  if (HarnessError.isInstance(error)) return error;
  if (error instanceof Error && error.name === 'AbortError') {
    return new HarnessError('aborted', 'the operation was aborted', { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new HarnessError(code, message, { cause: error });
}

/** Throws a terminal `aborted` HarnessError when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new HarnessError('aborted', 'the operation was aborted', { cause: signal.reason });
  }
}
