/**
 * Turns zod issues into messages a person fixing a YAML file can act on: what was expected,
 * what was found, and a hint (a did-you-mean, the allowed values, the key to add).
 * zod's own messages speak about JavaScript ("received undefined"); these speak YAML.
 */
import { z } from 'zod';
import { didYouMean } from './did-you-mean.ts';
import { formatYamlPath, type YamlPath } from './yaml-source.ts';

/** One problem of a config file, ready to be located and reported. */
export interface DescribedIssue {
  /** The zod issue code (`invalid_type`, `unrecognized_keys`, ...), or a semantic check's name. */
  code: string;
  path: Array<string | number>;
  /** What was expected and what was found. */
  message: string;
  /** What would fix it. */
  hint: string;
  /** `key` for unknown keys (the key is the mistake), else `value`. */
  target: 'value' | 'key';
  /** True for a required key that is absent; it is located at its parent map. */
  missing: boolean;
}

type Schema = z.core.$ZodType;

/** The parts of zod's schema definitions this module reads. */
interface SchemaDef {
  type: string;
  shape?: Record<string, Schema>;
  element?: Schema;
  innerType?: Schema;
  valueType?: Schema;
  in?: Schema;
  options?: readonly Schema[];
  entries?: Record<string, string | number>;
  values?: readonly unknown[];
  format?: string;
}

function defOf(schema: Schema): SchemaDef {
  return schema._zod.def as unknown as SchemaDef;
}

const wrapperTypes = new Set([
  'optional',
  'nullable',
  'default',
  'prefault',
  'readonly',
  'catch',
  'nonoptional',
]);

/** The schema under optional/default/pipe wrappers, and the first description met on the way. */
function unwrap(schema: Schema): { schema: Schema; description: string | undefined } {
  let current = schema;
  let description = z.globalRegistry.get(current)?.description;
  for (let guard = 0; guard < 16; guard++) {
    const def = defOf(current);
    const inner = wrapperTypes.has(def.type) ? def.innerType : def.type === 'pipe' ? def.in : undefined;
    if (inner === undefined) break;
    current = inner;
    description ??= z.globalRegistry.get(current)?.description;
  }
  return { schema: current, description };
}

/** The schema that validates the value at `path`, or `undefined` when the path leaves the schema. */
function schemaAt(root: Schema, path: YamlPath): Schema | undefined {
  if (path.length === 0) return root;
  const { schema } = unwrap(root);
  const def = defOf(schema);
  const [head, ...rest] = path;
  if (def.type === 'object' && typeof head === 'string' && def.shape && Object.hasOwn(def.shape, head)) {
    const child = def.shape[head];
    return child === undefined ? undefined : schemaAt(child, rest);
  }
  if (def.type === 'array' && typeof head === 'number' && def.element) return schemaAt(def.element, rest);
  if (def.type === 'record' && def.valueType) return schemaAt(def.valueType, rest);
  if (def.type === 'union' && def.options) {
    for (const option of def.options) {
      const found = schemaAt(option, path);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** The keys an object schema allows (of every object branch of a union), in declaration order. */
function allowedKeys(schema: Schema | undefined): string[] {
  if (schema === undefined) return [];
  const def = defOf(unwrap(schema).schema);
  if (def.type === 'object' && def.shape) return Object.keys(def.shape);
  if (def.type === 'union' && def.options) return [...new Set(def.options.flatMap(allowedKeys))];
  return [];
}

const wholeNumberFormats = new Set(['safeint', 'int32', 'uint32', 'int64', 'uint64']);

const expectedNames: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  null: 'an empty value',
};

/** "a whole number", "a list", `one of "a", "b"`: what a schema accepts, in YAML words. */
function describeExpected(schema: Schema | undefined, fallback: string): string {
  if (schema === undefined) return expectedNames[fallback] ?? fallback;
  const inner = unwrap(schema).schema;
  const def = defOf(inner);
  switch (def.type) {
    case 'string':
      return def.format === 'url' ? 'a URL' : 'a string';
    case 'number':
      return def.format !== undefined && wholeNumberFormats.has(def.format) ? 'a whole number' : 'a number';
    case 'enum':
      return `one of ${listValues(Object.values(def.entries ?? {}))}`;
    case 'literal': {
      const values = def.values ?? [];
      return values.length === 1 ? JSON.stringify(values[0]) : `one of ${listValues(values)}`;
    }
    case 'union': {
      const names = (def.options ?? []).map((option) => describeExpected(option, 'a value'));
      return [...new Set(names)].join(' or ');
    }
    default:
      return expectedNames[def.type] ?? expectedNames[fallback] ?? fallback;
  }
}

/** True when the key may be left out, so "remove the key" is a valid fix. */
function isOptional(schema: Schema | undefined): boolean {
  return schema !== undefined && ['optional', 'default', 'prefault'].includes(defOf(schema).type);
}

/** ` or remove the key` when that is allowed, else nothing. */
function orRemove(context: Context, path: YamlPath): string {
  return isOptional(schemaAt(context.root, path)) ? ' or remove the key' : '';
}

function describeOf(schema: Schema | undefined): string | undefined {
  return schema === undefined ? undefined : unwrap(schema).description;
}

function listValues(values: readonly unknown[]): string {
  return values.map((value) => JSON.stringify(value)).join(', ');
}

/** Secrets may reach these keys through `${VAR}`: never echo their values. */
function isSecretPath(path: YamlPath): boolean {
  return path.includes('api_key') || path.includes('api_keys') || path.includes('headers');
}

/** How a found value reads in a message: `"three"`, `1.5`, `an empty value`, `a list of 2 items`. */
function describeFound(value: unknown, path: YamlPath = []): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (typeof value === 'string') {
    if (isSecretPath(path)) return `a string of ${value.length} characters`;
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return 'an empty list';
    return `a list of ${value.length} ${value.length === 1 ? 'item' : 'items'}`;
  }
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

/** The value at `path` of plain parsed data, and whether it exists. */
function valueAt(input: unknown, path: YamlPath): { exists: boolean; value: unknown } {
  let current = input;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return { exists: false, value: undefined };
    const container = current as Record<string | number, unknown>;
    if (!Object.hasOwn(container, segment)) return { exists: false, value: undefined };
    current = container[segment];
  }
  return { exists: true, value: current };
}

function lastKey(path: YamlPath): string | undefined {
  const last = path.at(-1);
  return typeof last === 'string' ? last : undefined;
}

function where(path: YamlPath): string {
  return path.length === 0 ? 'the top level' : formatYamlPath(path);
}

/** zod's own messages start like this; anything else was written in the schema for people. */
const defaultMessage = /^(Too small|Too big|Invalid)/;

const schemaHint = 'see the JSON Schema (`forge schema`) for what this key accepts';

function toPath(path: readonly PropertyKey[]): Array<string | number> {
  return path.map((segment) => (typeof segment === 'number' ? segment : String(segment)));
}

interface Context {
  root: Schema;
  input: unknown;
}

function bound(issue: { inclusive?: boolean }, small: boolean): string {
  if (small) return issue.inclusive === false ? 'greater than' : 'at least';
  return issue.inclusive === false ? 'less than' : 'at most';
}

function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : nouns}`;
}

function describeSize(
  issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig,
  path: Array<string | number>,
  context: Context,
): DescribedIssue {
  const small = issue.code === 'too_small';
  const limit = Number(
    small ? (issue as z.core.$ZodIssueTooSmall).minimum : (issue as z.core.$ZodIssueTooBig).maximum,
  );
  const { value } = valueAt(context.input, path);
  const found = describeFound(value, path);
  const key = lastKey(path);
  const base = { code: issue.code, path, target: 'value' as const, missing: false };
  const custom = defaultMessage.test(issue.message) ? undefined : issue.message;
  if (issue.origin === 'string') {
    const wanted =
      small && limit === 1 ? 'a non-empty string' : `${bound(issue, small)} ${plural(limit, 'character')}`;
    return {
      ...base,
      message: custom ? `${custom}, found ${found}` : `expected ${wanted}, found ${found}`,
      hint:
        small && limit === 1
          ? `write a value${key ? ` for ${key}` : ''}${orRemove(context, path)}`
          : `use ${bound(issue, small)} ${plural(limit, 'character')}`,
    };
  }
  if (issue.origin === 'array' || issue.origin === 'set') {
    const count = Array.isArray(value) ? value.length : 0;
    return {
      ...base,
      message: custom
        ? `${custom}, found ${found}`
        : `expected ${bound(issue, small)} ${plural(limit, 'item')}, found ${found}`,
      hint: small
        ? `add ${plural(limit - count, 'entry', 'entries')}${key ? ` under ${key}:` : ''}`
        : `remove ${plural(count - limit, 'entry', 'entries')}${key ? ` from ${key}` : ''}`,
    };
  }
  const expected = describeExpected(schemaAt(context.root, path), 'number');
  const phrase = `${bound(issue, small)} ${limit}`;
  return {
    ...base,
    message: custom ? `${custom}, found ${found}` : `expected ${expected} ${phrase}, found ${found}`,
    hint: `use a value ${phrase}${key ? ` for ${key}` : ''}`,
  };
}

/**
 * A required key that is absent from its map, whatever zod calls it (`invalid_type` for a
 * string, `invalid_value` for an enum, `invalid_union` for a union).
 */
function describeMissing(
  code: string,
  path: Array<string | number>,
  context: Context,
  fallbackExpected: string,
): DescribedIssue | undefined {
  const key = lastKey(path);
  if (key === undefined || valueAt(context.input, path).exists) return undefined;
  const parent = valueAt(context.input, path.slice(0, -1));
  if (
    !parent.exists ||
    parent.value === null ||
    typeof parent.value !== 'object' ||
    Array.isArray(parent.value)
  ) {
    return undefined;
  }
  const schema = schemaAt(context.root, path);
  const description = describeOf(schema);
  return {
    code,
    path,
    target: 'value',
    missing: true,
    message: `missing required key "${key}" (${describeExpected(schema, fallbackExpected)})`,
    hint: `add "${key}:" to ${where(path.slice(0, -1))}${description ? ` — ${description}` : ''}`,
  };
}

function describeType(
  issue: z.core.$ZodIssueInvalidType,
  path: Array<string | number>,
  context: Context,
): DescribedIssue {
  const missing = describeMissing(issue.code, path, context, issue.expected);
  if (missing !== undefined) return missing;
  const { value } = valueAt(context.input, path);
  const schema = schemaAt(context.root, path);
  const expected = describeExpected(schema, issue.expected);
  const description = describeOf(schema);
  const key = lastKey(path);
  const found = describeFound(value, path);
  let hint: string;
  const numeric = expected === 'a number' || expected === 'a whole number';
  if (numeric && typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) {
    hint = 'write the number without quotes';
  } else if (expected === 'a whole number' && typeof value === 'number' && Number.isFinite(value)) {
    hint = `use a whole number such as ${Math.round(value)}`;
  } else if (value === null && key !== undefined) {
    hint = `write a value after "${key}:"${orRemove(context, path)}`;
  } else if (expected === 'a list' && value !== null && typeof value !== 'object' && key !== undefined) {
    hint = `write a list, e.g. ${key}: [${String(value)}]`;
  } else if (path.length === 0) {
    hint = 'the top level of the file must be a mapping with `models:` and/or `councils:`';
  } else if (description !== undefined) {
    hint = `${key ?? 'this value'}: ${description}`;
  } else {
    hint = `write ${expected}${key ? ` for ${key}` : ''}`;
  }
  return {
    code: issue.code,
    path,
    target: 'value' as const,
    missing: false,
    message: `expected ${expected}, found ${found}`,
    hint,
  };
}

function describeOne(issue: z.core.$ZodIssue, prefix: YamlPath, context: Context): DescribedIssue[] {
  const path = [...prefix, ...toPath(issue.path)];
  const key = lastKey(path);
  switch (issue.code) {
    case 'invalid_type':
      return [describeType(issue, path, context)];
    case 'unrecognized_keys': {
      const allowed = allowedKeys(schemaAt(context.root, path));
      return issue.keys.map((unknown) => {
        const suggestion = didYouMean(unknown, allowed);
        return {
          code: issue.code,
          path: [...path, unknown],
          target: 'key' as const,
          missing: false,
          message: suggestion
            ? `unknown key "${unknown}" — did you mean "${suggestion}"?`
            : `unknown key "${unknown}"`,
          hint: suggestion
            ? `rename "${unknown}" to "${suggestion}"`
            : allowed.length > 0
              ? `remove it; allowed keys in ${where(path)}: ${allowed.join(', ')}`
              : 'remove it',
        };
      });
    }
    case 'invalid_value': {
      const missing = describeMissing(issue.code, path, context, 'a value');
      if (missing !== undefined) return [missing];
      const { value } = valueAt(context.input, path);
      const found = describeFound(value, path);
      const strings = issue.values.filter((candidate): candidate is string => typeof candidate === 'string');
      const suggestion = typeof value === 'string' ? didYouMean(value, strings) : undefined;
      const list = listValues(issue.values);
      const only = issue.values.length === 1;
      return [
        {
          code: issue.code,
          path,
          target: 'value',
          missing: false,
          message: `expected ${only ? list : `one of ${list}`}, found ${found}`,
          hint: suggestion
            ? `did you mean "${suggestion}"? allowed: ${list}`
            : only
              ? `write ${list}${key ? ` for ${key}` : ''}`
              : `use one of: ${list}`,
        },
      ];
    }
    case 'too_small':
    case 'too_big':
      return [describeSize(issue, path, context)];
    case 'invalid_format': {
      const { value } = valueAt(context.input, path);
      const isUrl = issue.format === 'url';
      return [
        {
          code: issue.code,
          path,
          target: 'value',
          missing: false,
          message: `expected ${isUrl ? 'a URL' : `a ${issue.format} string`}, found ${describeFound(value, path)}`,
          hint: isUrl ? 'write an absolute URL with its scheme, e.g. http://localhost:11434/v1' : schemaHint,
        },
      ];
    }
    case 'invalid_union': {
      // The branch whose errors are not "wrong type at the root" is the one the user meant.
      const meant = issue.errors.find((branch) =>
        branch.some((inner) => inner.path.length > 0 || inner.code !== 'invalid_type'),
      );
      if (meant !== undefined) return meant.flatMap((inner) => describeOne(inner, path, context));
      const missing = describeMissing(issue.code, path, context, 'a value');
      if (missing !== undefined) return [missing];
      const { value } = valueAt(context.input, path);
      const expected = describeExpected(schemaAt(context.root, path), 'a value');
      return [
        {
          code: issue.code,
          path,
          target: 'value',
          missing: false,
          message: `expected ${expected}, found ${describeFound(value, path)}`,
          hint: `write ${expected}${key ? ` for ${key}` : ''}`,
        },
      ];
    }
    case 'custom': {
      const description = describeOf(schemaAt(context.root, path));
      return [
        {
          code: issue.code,
          path,
          target: 'value',
          missing: false,
          message: issue.message,
          hint: description !== undefined && key !== undefined ? `${key}: ${description}` : schemaHint,
        },
      ];
    }
    default: {
      const { value } = valueAt(context.input, path);
      return [
        {
          code: issue.code,
          path,
          target: 'value',
          missing: false,
          message: `${issue.message}, found ${describeFound(value, path)}`,
          hint: schemaHint,
        },
      ];
    }
  }
}

/**
 * Describes every zod issue of `input` against `root` (unions are unfolded into the
 * branch the user meant; an `unrecognized_keys` issue becomes one issue per key).
 * Order follows zod's; callers sort by source position.
 */
export function describeIssues(
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  root: Schema,
): DescribedIssue[] {
  const context: Context = { root, input };
  return issues.flatMap((issue) => describeOne(issue, [], context));
}
