/** CLI exit codes, one per family of `HarnessError` code. Documented in docs/cli.md. */
import type { HarnessErrorCode } from '../errors.ts';

export const exitCodes = {
  ok: 0,
  /** The council ran and failed (a model or skill error ended it). */
  runFailed: 1,
  /** Bad command-line usage: unknown verb or flag, missing argument. */
  usage: 2,
  /** The config file is missing, malformed or names unknown things. */
  config: 3,
  /** A credential reference could not be resolved. */
  credential: 4,
  /** A provider failed (after fallbacks). */
  provider: 5,
  /** The prompt or input is invalid or too long for the model. */
  input: 6,
  /** Interrupted (Ctrl-C / abort). */
  aborted: 130,
  /** A bug: please report it. */
  internal: 70,
} as const;

/** The exit code for an error code. */
export function exitCodeFor(code: HarnessErrorCode): number {
  switch (code) {
    case 'cli_usage':
      return exitCodes.usage;
    case 'config_invalid':
    case 'config_yaml_syntax':
    case 'config_not_found':
    case 'unknown_model':
    case 'unknown_skill':
    case 'unknown_council':
    case 'unknown_provider_type':
    case 'unknown_memory_scheme':
    case 'council_empty':
    case 'gguf_unavailable':
    case 'graph_cycle':
    case 'trigger_invalid':
    case 'skill_bundle_invalid':
      return exitCodes.config;
    case 'missing_credential':
      return exitCodes.credential;
    case 'provider_error':
      return exitCodes.provider;
    case 'prompt_invalid':
    case 'context_too_long':
      return exitCodes.input;
    case 'aborted':
      return exitCodes.aborted;
    case 'skill_failed':
    case 'skill_input_invalid':
    case 'memory_error':
    case 'harness_not_started':
    case 'limit_exceeded':
    case 'recursion_loop':
    case 'no_quorum':
    case 'trigger_failed':
    case 'quota_exceeded':
    case 'overloaded':
    case 'mcp_error':
    case 'journal_error':
    case 'worker_crash_loop':
    case 'canary_error':
      return exitCodes.runFailed;
    case 'unknown_run':
    case 'resume_invalid':
      return exitCodes.usage;
    default:
      return exitCodes.internal;
  }
}
