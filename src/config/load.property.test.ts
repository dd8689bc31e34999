// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the generators write ${VAR} references into YAML.
import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { HarnessError, type HarnessErrorCode } from '../errors.ts';
import { parseConfig } from './load.ts';

const fixture = await readFile(new URL('../../test/fixtures/councils.yaml', import.meta.url), 'utf8');
const validConfig = parse(fixture) as unknown;

const configCodes: ReadonlySet<HarnessErrorCode> = new Set([
  'config_invalid',
  'config_yaml_syntax',
  'unknown_model',
  'unknown_skill',
]);

/**
 * parseConfig either returns a config or throws a HarnessError with a config code, a
 * message, a hint, and a location inside the text. Anything else (a TypeError, a raw zod
 * or YAML error, a location past the end) fails the property.
 */
function checkOutcome(text: string, env: Record<string, string>): void {
  let result: ReturnType<typeof parseConfig>;
  try {
    result = parseConfig(text, { file: 'fuzz.yaml', env, knownSkills: ['NLU', 'Search'] });
  } catch (error) {
    if (!HarnessError.isInstance(error)) throw error;
    expect(configCodes.has(error.code)).toBe(true);
    expect(error.message.length).toBeGreaterThan(0);
    expect(error.hint?.length ?? 0).toBeGreaterThan(0);
    const location = error.location;
    expect(location?.file).toBe('fuzz.yaml');
    if (location?.line !== undefined) {
      expect(location.line).toBeGreaterThanOrEqual(1);
      expect(location.line).toBeLessThanOrEqual(text.split(/\r\n|\r|\n/).length + 1);
      expect(location.column).toBeGreaterThanOrEqual(1);
    }
    return;
  }
  expect(Array.isArray(result.models)).toBe(true);
  expect(Array.isArray(result.councils)).toBe(true);
  expect(result.locate(['councils', 0, 'agents', 0, 'model']).path).toBe('councils[0].agents[0].model');
}

/** Every path into a plain JSON-like value, the root included. */
function pathsOf(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out = [prefix];
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      out.push(...pathsOf(item, [...prefix, i]));
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) out.push(...pathsOf(item, [...prefix, key]));
  }
  return out;
}

type Mutation =
  | { kind: 'delete'; pick: number }
  | { kind: 'replace'; pick: number; value: unknown }
  | { kind: 'unknownKey'; pick: number; key: string; value: unknown }
  | { kind: 'string'; pick: number; value: string };

function mutate(root: unknown, mutation: Mutation): unknown {
  const copy = structuredClone(root);
  const paths = pathsOf(copy);
  const path = paths[mutation.pick % paths.length] ?? [];
  if (path.length === 0) return mutation.kind === 'replace' ? mutation.value : copy;
  const parent = path
    .slice(0, -1)
    .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], copy) as
    | Record<string | number, unknown>
    | unknown[];
  const key = path.at(-1) as string | number;
  switch (mutation.kind) {
    case 'delete':
      if (Array.isArray(parent) && typeof key === 'number') parent.splice(key, 1);
      else delete (parent as Record<string | number, unknown>)[key];
      break;
    case 'replace':
    case 'string':
      (parent as Record<string | number, unknown>)[key] = mutation.value;
      break;
    case 'unknownKey': {
      const target = (parent as Record<string | number, unknown>)[key];
      if (target !== null && typeof target === 'object' && !Array.isArray(target)) {
        (target as Record<string, unknown>)[mutation.key] = mutation.value;
      } else {
        (parent as Record<string | number, unknown>)[key] = { [mutation.key]: mutation.value };
      }
      break;
    }
  }
  return copy;
}

const keyLike = fc.oneof(
  fc.constantFrom('modle', 'nmae', 'agents', 'model', 'type', 'id', 'max_tokens', 'maxTokens', '<<', '', ' '),
  fc.string({ maxLength: 12 }),
);
const stringLike = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    'gpt-4o',
    'gpt4o',
    'openia',
    'local',
    '${A}',
    '${MISSING}',
    '$${A}',
    '${A:-1}',
    '${',
    'x:y',
  ),
  fc.string({ maxLength: 20 }),
);
const valueLike = fc.oneof(stringLike, fc.jsonValue({ maxDepth: 3 }), fc.constant(null), fc.double());

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('replace' as const), pick: fc.nat(), value: valueLike }),
  fc.record({ kind: fc.constant('unknownKey' as const), pick: fc.nat(), key: keyLike, value: valueLike }),
  fc.record({ kind: fc.constant('string' as const), pick: fc.nat(), value: stringLike }),
);

/** YAML-ish text from the tokens that matter to the parser and the loader. */
const yamlish = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        'models:',
        'councils:',
        'agents:',
        'telemetry:',
        '\n',
        '\n  ',
        '\n    ',
        '  ',
        '- ',
        'id: ',
        'name: ',
        'model: ',
        'type: local',
        'type: openai',
        'endpoint: ',
        ': ',
        '{',
        '}',
        '[',
        ']',
        ', ',
        '"',
        "'",
        '&a ',
        '*a',
        '*b',
        '${A}',
        '${MISSING}',
        '$${',
        '${',
        '# c',
        '\t',
        '---',
        '...',
        '!!str ',
        '!!int ',
        '!tag ',
        '? ',
        '|',
        '>-',
        '~',
        'null',
        '1.5',
        '-1',
        '0x1F',
        'true',
        '\r\n',
        '%YAML 1.2\n',
        '<<: *a',
      ),
      fc.string({ maxLength: 6 }),
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''));

const env = fc.record({
  A: fc.oneof(fc.constantFrom('1', '', 'x', '${A}', '[1, 2]', 'null'), fc.string({ maxLength: 8 })),
});

describe('parseConfig never fails with anything but a config HarnessError', () => {
  it('on random text', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 })),
        env,
        (text, vars) => checkOutcome(text, vars),
      ),
      { seed: 20240611, numRuns: 1000 },
    );
  });

  it('on YAML-like token soup', () => {
    fc.assert(
      fc.property(yamlish, env, (text, vars) => checkOutcome(text, vars)),
      { seed: 20240612, numRuns: 1500 },
    );
  });

  it('on mutations of the valid example, whole or truncated', () => {
    fc.assert(
      fc.property(
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.option(fc.nat(), { nil: undefined }),
        env,
        (mutations, cut, vars) => {
          const mutated = mutations.reduce<unknown>((config, next) => mutate(config, next), validConfig);
          const text = stringify(mutated);
          checkOutcome(cut === undefined ? text : text.slice(0, cut % (text.length + 1)), vars);
        },
      ),
      { seed: 20240613, numRuns: 1500 },
    );
  });

  it('on truncations and line deletions of the example text', () => {
    const lines = fixture.split('\n');
    fc.assert(
      fc.property(fc.nat({ max: fixture.length }), fc.nat({ max: lines.length }), env, (cut, drop, vars) => {
        checkOutcome(fixture.slice(0, cut), vars);
        checkOutcome(lines.filter((_, i) => i !== drop).join('\n'), vars);
      }),
      { seed: 20240614, numRuns: 1000 },
    );
  });
});
