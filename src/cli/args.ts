/** Flag parsing shared by every verb: `node:util` parseArgs, errors as `cli_usage` naming the flag. */
import { parseArgs } from 'node:util';
import { HarnessError } from '../errors.ts';
import type { ModelEntry } from '../models/types.ts';

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

/** A `cli_usage` error for `forge VERB`, with a pointer to its help. */
export function usageError(verb: string, message: string, hint = `see forge ${verb} --help`): HarnessError {
  return new HarnessError('cli_usage', `forge ${verb}: ${message}`, { hint });
}

/** Parses `args` strictly; at most `positionals` positional arguments are allowed. */
export function parse(verb: string, args: string[], options: OptionSpec, positionals: number) {
  let parsed: ReturnType<
    typeof parseArgs<{ options: OptionSpec; allowPositionals: true; strict: true; args: string[] }>
  >;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw usageError(verb, error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error));
  }
  if (parsed.positionals.length > positionals) {
    throw usageError(verb, `unexpected argument "${parsed.positionals[positionals]}"`);
  }
  return parsed;
}

/** `--model-endpoint id=url`, repeatable: points a model at another server (tests, proxies). */
export function endpointOverrides(values: string[] | undefined): Record<string, Partial<ModelEntry>> {
  const out: Record<string, Partial<ModelEntry>> = {};
  for (const value of values ?? []) {
    const eq = value.indexOf('=');
    if (eq <= 0 || !/^https?:\/\//.test(value.slice(eq + 1))) {
      throw new HarnessError('cli_usage', `--model-endpoint "${value}" is not ID=URL`, {
        hint: 'example: --model-endpoint gpt-4o=http://127.0.0.1:8080/v1',
      });
    }
    out[value.slice(0, eq)] = { endpoint: value.slice(eq + 1) };
  }
  return out;
}
