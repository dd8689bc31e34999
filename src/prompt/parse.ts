/**
 * Validation of untrusted prompts (API payloads, YAML, CLI input) into the unified format, with
 * errors that point at the exact bad field by JSON pointer and say how to fix it.
 */
import type { z } from 'zod';
import { HarnessError } from '../errors.ts';
import {
  MESSAGE_ROLES,
  PART_SCHEMAS,
  PART_TYPES,
  type UnifiedMessage,
  unifiedPromptSchema,
} from './schema.ts';
import { closestMatch } from './suggest.ts';

type Issue = z.core.$ZodIssue;
type Path = readonly PropertyKey[];

/** A leaf issue with its path from the root of the input. */
interface Located {
  issue: Issue;
  path: Path;
}

/**
 * Validates `input` as a unified prompt and normalises it to a list of messages: a plain
 * string becomes one user message, one message becomes a list of one.
 *
 * @throws HarnessError `prompt_invalid` for anything else. `location.path` is the JSON pointer
 *   of the bad field (`/0/content/1/type`; `""` for the whole input), the message says what
 *   was expected and what was found, `hint` says how to fix it. Nothing else is ever thrown.
 */
export function parsePrompt(input: unknown): UnifiedMessage[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  let result: ReturnType<typeof unifiedPromptSchema.safeParse>;
  try {
    // zod accepts cyclic objects as JSON; a provider then fails to serialise them, so refuse here.
    const cycle = findCycle(input, [], new Set());
    if (cycle !== undefined) {
      const pointer = toPointer(cycle);
      throw new HarnessError(
        'prompt_invalid',
        `invalid prompt at ${pointer}: expected JSON data, found a reference back to an enclosing object (a cycle)`,
        { location: { path: pointer }, hint: 'send plain JSON: an object cannot contain itself' },
      );
    }
    result = unifiedPromptSchema.safeParse(input);
  } catch (cause) {
    if (HarnessError.isInstance(cause)) throw cause;
    // Input nested too deeply for the stack, or an exotic object (throwing getter, Proxy), can
    // make validation itself throw; it is still bad input, never an internal error.
    throw new HarnessError('prompt_invalid', 'invalid prompt: it could not be read as JSON data', {
      cause,
      location: { path: '' },
      hint: 'send plain JSON (no functions or class instances) nested at most a few thousand levels deep',
    });
  }
  if (!result.success) throw promptErrorSafely(result.error.issues, input);
  const prompt = result.data;
  if (typeof prompt === 'string') return [{ role: 'user', content: prompt }];
  return Array.isArray(prompt) ? prompt : [prompt];
}

function promptErrorSafely(issues: readonly Issue[], input: unknown): HarnessError {
  try {
    return promptError(issues, input);
  } catch (cause) {
    // Describing reads the input again; an exotic object must not turn bad input into a crash.
    const pointer = toPointer(issues[0]?.path ?? []);
    const where = pointer === '' ? 'invalid prompt' : `invalid prompt at ${pointer}`;
    return new HarnessError('prompt_invalid', `${where}: ${issues[0]?.message ?? 'not a prompt'}`, {
      cause,
      location: { path: pointer },
      hint: 'send plain JSON in the unified prompt format',
    });
  }
}

/** Builds the one error reported for a failed parse: the most useful of zod's issues. */
function promptError(issues: readonly Issue[], input: unknown): HarnessError {
  const leaves = issues.flatMap((issue) => flatten(issue, []));
  const chosen = choose(leaves, input);
  if (chosen === undefined) {
    return new HarnessError('prompt_invalid', 'invalid prompt', { location: { path: '' } });
  }
  const { message, hint } = describe(chosen, input);
  const pointer = toPointer(chosen.pointerPath);
  const where = pointer === '' ? 'invalid prompt' : `invalid prompt at ${pointer}`;
  return new HarnessError('prompt_invalid', `${where}: ${message}`, {
    location: { path: pointer },
    hint,
    details: { issue: chosen.issue.code },
  });
}

/**
 * Replaces union issues by the issues of the branch that matches the input's basic shape (the
 * array branch for an array, the object branch for an object), so errors point into the value
 * the caller wrote instead of saying "no branch matched" at its root. When no branch matches
 * the shape, the union issue stays and reads "expected string or array, found number".
 */
function flatten(issue: Issue, base: Path): Located[] {
  const path = [...base, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const fitting = issue.errors.filter(
      (branch) => !branch.some((inner) => inner.code === 'invalid_type' && inner.path.length === 0),
    );
    const branch = fitting[0];
    if (branch !== undefined) return branch.flatMap((inner) => flatten(inner, path));
  }
  return [{ issue, path }];
}

interface Chosen extends Located {
  /** Where the pointer goes; differs from `path` for unknown keys (it names the key). */
  pointerPath: Path;
  /** For an unknown key, the required field it most likely misspells. */
  misspelled?: string;
}

/** Picks the first issue, preferring an unknown key when it is a typo of a missing field. */
function choose(leaves: readonly Located[], input: unknown): Chosen | undefined {
  const first = leaves[0];
  if (first === undefined) return undefined;
  for (const leaf of leaves) {
    if (leaf.issue.code !== 'unrecognized_keys') continue;
    const missing = leaves
      .filter(
        (other) =>
          other.path.length === leaf.path.length + 1 &&
          samePath(other.path.slice(0, -1), leaf.path) &&
          !has(input, other.path),
      )
      .map((other) => String(other.path.at(-1)));
    for (const key of leaf.issue.keys) {
      const match = closestMatch(key, missing);
      if (match !== undefined) return { ...leaf, pointerPath: [...leaf.path, key], misspelled: match };
    }
  }
  if (first.issue.code === 'unrecognized_keys') {
    return { ...first, pointerPath: [...first.path, first.issue.keys[0] ?? ''] };
  }
  return { ...first, pointerPath: first.path };
}

/** The message ("expected X, found Y") and hint for one issue. */
function describe(chosen: Chosen, input: unknown): { message: string; hint: string } {
  const { issue, path } = chosen;
  const found = valueAt(input, path);
  const missing = !has(input, path);
  const last = path.at(-1);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const key = String(chosen.pointerPath.at(-1));
      const allowed = allowedKeys(input, path);
      const guess = chosen.misspelled ?? (allowed ? closestMatch(key, allowed) : undefined);
      const list = allowed ? `allowed fields here: ${allowed.join(', ')}` : 'remove it';
      return {
        message: `unknown field "${key}"`,
        hint: guess === undefined ? list : `did you mean "${guess}"? ${list}`,
      };
    }
    case 'invalid_union': {
      if (issue.discriminator !== undefined) return describePartType(found, missing);
      if (path.length === 0) {
        return {
          message: `expected a prompt (a string, a message object or an array of messages), found ${show(found)}`,
          hint: 'send "Hello", { "role": "user", "content": "Hello" }, or an array of such messages',
        };
      }
      const expected = unionExpectations(issue);
      if (missing && typeof last === 'string') {
        return {
          message: `missing required field "${last}" (expected ${expected})`,
          hint: fieldHint(last, expected),
        };
      }
      return {
        message: `expected ${expected}, found ${show(found)}`,
        hint: last === 'content' ? contentHint : 'replace it with a JSON value of that kind',
      };
    }
    case 'invalid_value': {
      if (last === 'role') {
        const guess = typeof found === 'string' ? closestMatch(found, MESSAGE_ROLES) : undefined;
        return {
          message: missing
            ? `missing required field "role" (expected one of ${MESSAGE_ROLES.join(', ')})`
            : `expected a role (${MESSAGE_ROLES.join(', ')}), found ${show(found)}`,
          hint: `${guess === undefined ? '' : `did you mean "${guess}"? `}use one of the roles: ${MESSAGE_ROLES.join(', ')}`,
        };
      }
      const options = issue.values.map((value) => JSON.stringify(value)).join(', ');
      return { message: `expected one of ${options}, found ${show(found)}`, hint: `use one of ${options}` };
    }
    case 'invalid_type': {
      const expected = typeName(issue.expected);
      if (missing && typeof last === 'string') {
        return {
          message: `missing required field "${last}" (expected ${expected})`,
          hint: fieldHint(last, expected),
        };
      }
      if (issue.expected === 'object' && isPartPath(path)) {
        return {
          message: `expected a part object, found ${show(found)}`,
          hint: `write each part as { "type": "user", "value": "..." }; part types: ${PART_TYPES.join(', ')}`,
        };
      }
      if (issue.expected === 'object' && path.length <= 1) {
        return {
          message: `expected a message object, found ${show(found)}`,
          hint: 'write each message as { "role": "user", "content": "..." }',
        };
      }
      return {
        message: `expected ${expected}, found ${show(found)}`,
        hint: typeof last === 'string' ? fieldHint(last, expected) : `replace it with ${expected}`,
      };
    }
    case 'too_small': {
      if (issue.origin === 'array') {
        const what = last === 'content' ? 'part' : 'message';
        return {
          message: `expected at least one ${what}, found an empty array`,
          hint:
            last === 'content'
              ? 'add a part such as { "type": "user", "value": "..." }, or use a string'
              : 'add a message such as { "role": "user", "content": "..." }',
        };
      }
      return {
        message: `expected a non-empty string, found ${show(found)}`,
        hint: `set "${String(last)}" to a non-empty string`,
      };
    }
    case 'invalid_format':
      return {
        message: `${issue.message}, found ${show(found)}`,
        hint:
          last === 'media_type'
            ? 'use a media type such as image/png, image/jpeg or image/webp'
            : issue.message,
      };
    case 'custom': {
      // A check may say what it found better than the value at the path can (`found: 'none'`).
      const hint = typeof issue.params?.hint === 'string' ? issue.params.hint : 'fix the value';
      const what =
        typeof issue.params?.found === 'string' ? issue.params.found : missing ? 'nothing' : show(found);
      return { message: `${issue.message}, found ${what}`, hint };
    }
    default:
      return { message: `${issue.message}, found ${show(found)}`, hint: 'fix the value' };
  }
}

const contentHint = 'content is a string, or a list of parts such as [{ "type": "user", "value": "..." }]';

function describePartType(found: unknown, missing: boolean): { message: string; hint: string } {
  const list = PART_TYPES.join(', ');
  const guess = typeof found === 'string' ? closestMatch(found, PART_TYPES) : undefined;
  const message = missing
    ? `missing required field "type" (expected a part type: ${list})`
    : `expected a part type (${list}), found ${show(found)}`;
  return {
    message,
    hint: `${guess === undefined ? '' : `did you mean "${guess}"? `}use one of the part types: ${list}`,
  };
}

/** "string or array" from the branches of a union whose input fitted none. */
function unionExpectations(issue: Extract<Issue, { code: 'invalid_union' }>): string {
  const names = issue.errors.flatMap((branch) =>
    branch.flatMap((inner) =>
      inner.code === 'invalid_type' && inner.path.length === 0 ? [typeName(inner.expected)] : [],
    ),
  );
  const unique = [...new Set(names)];
  if (['a string', 'a number', 'a boolean', 'null'].every((name) => unique.includes(name))) {
    return 'a JSON value (string, number, boolean, null, array or object)';
  }
  return unique.length === 0 ? 'a valid value' : unique.join(' or ');
}

function fieldHint(field: string, expected: string): string {
  switch (field) {
    case 'role':
      return `set "role" to one of: ${MESSAGE_ROLES.join(', ')}`;
    case 'content':
      return contentHint;
    case 'args':
      return 'set "args" to a JSON object of the call\'s arguments, e.g. { "order_id": "12345" }';
    default:
      return `set "${field}" to ${expected}`;
  }
}

/** The fields an object at `path` may have, when we know what it is. */
function allowedKeys(input: unknown, path: Path): readonly string[] | undefined {
  const target = valueAt(input, path);
  if (typeof target !== 'object' || target === null) return undefined;
  if (isPartPath(path)) {
    const type = (target as { type?: unknown }).type;
    const schema = typeof type === 'string' ? PART_SCHEMAS[type as keyof typeof PART_SCHEMAS] : undefined;
    return schema === undefined ? undefined : Object.keys(schema.shape);
  }
  return ['role', 'content'];
}

/** True when `path` names one part: `…/content/<index>`. */
function isPartPath(path: Path): boolean {
  return typeof path.at(-1) === 'number' && path.at(-2) === 'content';
}

function typeName(expected: string): string {
  switch (expected) {
    case 'record':
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    default:
      return expected;
  }
}

/** A short, safe rendering of what was found (never the whole of a long value). */
function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const text = value.length > 40 ? `${value.slice(0, 40)}…` : value;
    return `${value.length === 0 ? 'an empty string ' : ''}${JSON.stringify(text)}`;
  }
  if (typeof value === 'number') return Number.isFinite(value) ? `the number ${value}` : String(value);
  if (typeof value === 'boolean') return `the boolean ${value}`;
  if (Array.isArray(value)) return `an array of ${value.length} item${value.length === 1 ? '' : 's'}`;
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

/** The path of the first property that points back to an object enclosing it, if any. */
function findCycle(value: unknown, path: PropertyKey[], open: Set<object>): PropertyKey[] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (open.has(value)) return path;
  open.add(value);
  for (const key of Object.keys(value)) {
    path.push(Array.isArray(value) ? Number(key) : key);
    const found = findCycle((value as Record<string, unknown>)[key], path, open);
    if (found !== undefined) return found;
    path.pop();
  }
  open.delete(value);
  return undefined;
}

/** True when every key of `path` exists (a present `undefined` counts as present). */
function has(root: unknown, path: Path): boolean {
  let current = root;
  for (const key of path) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, key)) return false;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return true;
}

function valueAt(root: unknown, path: Path): unknown {
  let current = root;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    if (!Object.hasOwn(current, key)) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function samePath(a: Path, b: Path): boolean {
  return a.length === b.length && a.every((key, index) => key === b[index]);
}

/** RFC 6901: `~` → `~0`, `/` → `~1`; the empty path is the whole document, `""`. */
export function toPointer(path: Path): string {
  return path.map((key) => `/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}
