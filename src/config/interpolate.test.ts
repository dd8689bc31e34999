// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests are about the literal ${VAR} syntax.
import { describe, expect, it } from 'vitest';
import { LineCounter, parseDocument } from 'yaml';
import { HarnessError } from '../errors.ts';
import { interpolateDocument, interpolateString } from './interpolate.ts';

function catchError(fn: () => unknown): HarnessError {
  try {
    fn();
  } catch (error) {
    if (HarnessError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected a HarnessError');
}

describe('interpolateString', () => {
  const env = { HOST: 'example.com', EMPTY: '', PORT: '8080' };

  it.each([
    ['no references', 'no references'],
    ['http://${HOST}:${PORT}/v1', 'http://example.com:8080/v1'],
    ['${HOST}', 'example.com'],
    ['${UNSET:-fallback}', 'fallback'],
    ['${HOST:-fallback}', 'example.com'],
    ['${EMPTY:-fallback}', 'fallback'], // as in POSIX shells: empty counts as unset for :-
    ['${EMPTY}', ''],
    ['${UNSET:-}', ''],
    ['${UNSET:-a:-b}', 'a:-b'],
    ['$${HOST}', '${HOST}'],
    ['cost: $${HOST} and ${HOST}', 'cost: ${HOST} and example.com'],
    ['$HOST and $ alone', '$HOST and $ alone'],
    ['$$ stays', '$$ stays'],
    ['env:OPENAI_API_KEY', 'env:OPENAI_API_KEY'],
  ])('%j → %j', (input, expected) => {
    expect(interpolateString(input, env)).toBe(expected);
  });

  it('reads process.env by default', () => {
    process.env.FORGE_INTERPOLATE_TEST = 'from-process';
    try {
      expect(interpolateString('${FORGE_INTERPOLATE_TEST}')).toBe('from-process');
    } finally {
      delete process.env.FORGE_INTERPOLATE_TEST;
    }
  });

  it('names a missing variable and how to default it', () => {
    const error = catchError(() => interpolateString('${NOPE}', {}, { path: 'models[0].endpoint' }));
    expect(error.code).toBe('config_invalid');
    expect(error.message).toBe('environment variable NOPE is not set (used in models[0].endpoint)');
    expect(error.hint).toBe('set NOPE or write ${NOPE:-default}');
    expect(error.location).toEqual({ path: 'models[0].endpoint' });
    expect(error.details).toEqual({ variable: 'NOPE' });
  });

  it('rejects an unterminated reference and an invalid name', () => {
    const unterminated = catchError(() => interpolateString('x ${HOST', env));
    expect(unterminated.code).toBe('config_invalid');
    expect(unterminated.message).toContain('unterminated "${HOST"');
    expect(unterminated.hint).toContain('$${');
    const badName = catchError(() => interpolateString('${1ABC}', env));
    expect(badName.code).toBe('config_invalid');
    expect(badName.message).toContain('"${1ABC}" is not a valid variable reference');
    const spaces = catchError(() => interpolateString('${A B}', env));
    expect(spaces.message).toContain('not a valid variable reference');
  });
});

describe('interpolateDocument', () => {
  function interpolate(source: string, env: Record<string, string>) {
    const lineCounter = new LineCounter();
    const doc = parseDocument(source, { lineCounter });
    interpolateDocument(doc, { env, lineCounter, source, file: 'c.yaml' });
    return doc.toJS() as unknown;
  }

  it('interpolates every string value, in maps and lists, but not keys', () => {
    const source = 'a: ${X}\nlist: ["${X}", \'q ${X}\']\n${X}: key\nnested:\n  deep: |\n    line ${X}\n';
    expect(interpolate(source, { X: 'v' })).toEqual({
      a: 'v',
      list: ['v', 'q v'],
      '${X}': 'key',
      nested: { deep: 'line v\n' },
    });
  });

  it('types a plain scalar again after interpolation, and keeps quoted ones strings', () => {
    const source = 'n: ${N}\nf: ${F:-2.5}\nb: ${B:-true}\nq: "${N}"\ns: x${N}\ne: ${E:-}\nnil: ${Z:-null}\n';
    expect(interpolate(source, { N: '512' })).toEqual({
      n: 512,
      f: 2.5,
      b: true,
      q: '512',
      s: 'x512',
      e: '',
      nil: null,
    });
  });

  it('leaves credential references alone', () => {
    expect(interpolate('api_key: env:OPENAI_API_KEY\n', {})).toEqual({ api_key: 'env:OPENAI_API_KEY' });
  });

  it('interpolates an anchored value once for all its aliases', () => {
    expect(interpolate('a: &u ${X}\nb: *u\n', { X: 'v' })).toEqual({ a: 'v', b: 'v' });
  });

  it('points a missing variable at its ${ (line, column, YAML path)', () => {
    const source = 'models:\n  - id: a\n    endpoint: "http://${HOST}:${PORT}/v1"\n';
    const error = catchError(() => interpolate(source, { HOST: 'h' }));
    expect(error.code).toBe('config_invalid');
    expect(error.message).toBe('environment variable PORT is not set (used in models[0].endpoint)');
    expect(error.hint).toBe('set PORT or write ${PORT:-default}');
    expect(error.location).toEqual({ file: 'c.yaml', path: 'models[0].endpoint', line: 3, column: 31 });
  });

  it('skips escaped references when finding the column', () => {
    const source = 'a:\n  - x $${HOST} ${HOST}\n';
    const error = catchError(() => interpolate(source, {}));
    expect(error.location).toEqual({ file: 'c.yaml', path: 'a[0]', line: 2, column: 16 });
  });

  it('points into a block scalar', () => {
    const source = 'text: |\n  first\n  second ${MISSING}\n';
    const error = catchError(() => interpolate(source, {}));
    expect(error.location).toEqual({ file: 'c.yaml', path: 'text', line: 3, column: 10 });
  });
});
