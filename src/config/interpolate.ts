/**
 * `${VAR}` interpolation of config values from the environment, done on the parsed YAML
 * (not the raw text) so a value can never inject YAML structure and errors know their node.
 *
 * Inside a flow collection (`[...]`, `{...}`) YAML reads `{` as structure, so a reference
 * there must be quoted: `fallback: ["${FALLBACK_MODEL}"]`.
 *
 * Credential references such as `api_key: env:OPENAI_API_KEY` are not interpolation: they
 * stay as written and the model registry resolves them when it needs the secret, so the
 * secret never sits in the loaded config.
 */
import {
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  type Scalar,
} from 'yaml';
import { HarnessError, type SourceLocation } from '../errors.ts';
import { formatYamlPath } from './yaml-source.ts';

/** Where variables come from; `process.env` by default. */
export type InterpolationEnv = Readonly<Record<string, string | undefined>>;

const variableName = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Why a string could not be interpolated, and where in the string (0-based index of the `${`). */
interface Problem {
  kind: 'missing' | 'unterminated' | 'bad_name';
  /** The text between `${` and `}` (or to the end for an unterminated reference). */
  reference: string;
  /** The variable name, for `missing`. */
  variable?: string;
  index: number;
}

type ScanResult = { ok: true; value: string; changed: boolean } | { ok: false; problem: Problem };

/**
 * Expands `${VAR}` and `${VAR:-default}` (default when VAR is unset or empty, as in POSIX
 * shells) and turns `$${` into a literal `${`. A default is literal text up to the first `}`;
 * nested references are not expanded.
 */
function scan(input: string, env: InterpolationEnv): ScanResult {
  if (!input.includes('${')) return { ok: true, value: input, changed: false };
  let out = '';
  let i = 0;
  while (i < input.length) {
    const start = input.indexOf('${', i);
    if (start === -1) {
      out += input.slice(i);
      break;
    }
    // `$${` is the escape: the extra `$` is dropped and the `${` kept as text.
    if (start > 0 && input[start - 1] === '$' && start - 1 >= i) {
      out += `${input.slice(i, start - 1)}\${`;
      i = start + 2;
      continue;
    }
    out += input.slice(i, start);
    const end = input.indexOf('}', start + 2);
    if (end === -1) {
      return {
        ok: false,
        problem: { kind: 'unterminated', reference: input.slice(start + 2), index: start },
      };
    }
    const reference = input.slice(start + 2, end);
    const separator = reference.indexOf(':-');
    const name = separator === -1 ? reference : reference.slice(0, separator);
    if (!variableName.test(name)) {
      return { ok: false, problem: { kind: 'bad_name', reference, index: start } };
    }
    const value = env[name];
    if (value !== undefined && (value !== '' || separator === -1)) {
      out += value;
    } else if (separator !== -1) {
      out += reference.slice(separator + 2);
    } else {
      return { ok: false, problem: { kind: 'missing', reference, variable: name, index: start } };
    }
    i = end + 1;
  }
  return { ok: true, value: out, changed: true };
}

function problemError(problem: Problem, location: SourceLocation | undefined): HarnessError {
  const where = location?.path ? ` in ${location.path}` : '';
  const options = location === undefined ? {} : { location };
  if (problem.kind === 'missing') {
    const name = problem.variable ?? problem.reference;
    return new HarnessError('config_invalid', `environment variable ${name} is not set (used${where})`, {
      ...options,
      hint: `set ${name} or write \${${name}:-default}`,
      details: { variable: name },
    });
  }
  if (problem.kind === 'unterminated') {
    return new HarnessError('config_invalid', `unterminated "\${${problem.reference}"${where}: missing "}"`, {
      ...options,
      hint: 'close the reference with "}", or write $${ for a literal ${',
      details: { reference: problem.reference },
    });
  }
  return new HarnessError(
    'config_invalid',
    `"\${${problem.reference}}"${where} is not a valid variable reference`,
    {
      ...options,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the ${...} syntax shown to the user.
      hint: 'write ${NAME} or ${NAME:-default} (NAME: letters, digits, _), or $${ for a literal ${',
      details: { reference: problem.reference },
    },
  );
}

/**
 * Interpolates one string. Throws a `config_invalid` {@link HarnessError} for a missing
 * variable without default, an unterminated `${` or an invalid name; `location`, when
 * given, is attached to it.
 *
 * @param env variables to read; default `process.env`.
 */
export function interpolateString(
  value: string,
  env: InterpolationEnv = process.env,
  location?: SourceLocation,
): string {
  const result = scan(value, env);
  if (!result.ok) throw problemError(result.problem, location);
  return result.value;
}

/** Options of {@link interpolateDocument}. */
export interface InterpolateDocumentOptions {
  /** Variables to read; default `process.env`. */
  env?: InterpolationEnv;
  /** The counter the document was parsed with, for line/column in errors. */
  lineCounter?: LineCounter;
  /** The YAML source text, to point errors at the `${` itself rather than the start of the value. */
  source?: string;
  /** File name copied into error locations. */
  file?: string;
}

/** Index of the `n`-th (0-based) unescaped `${` in `text`, or -1. */
function nthReference(text: string, n: number): number {
  let seen = 0;
  let i = text.indexOf('${');
  while (i !== -1) {
    if (!(i > 0 && text[i - 1] === '$')) {
      if (seen === n) return i;
      seen += 1;
    }
    i = text.indexOf('${', i + 2);
  }
  return -1;
}

function errorLocation(
  node: Scalar,
  problem: Problem,
  path: ReadonlyArray<string | number>,
  options: InterpolateDocumentOptions,
): SourceLocation {
  const location: SourceLocation = {
    ...(options.file === undefined ? {} : { file: options.file }),
    path: formatYamlPath(path),
  };
  const range = node.range;
  if (range === undefined || range === null || options.lineCounter === undefined) return location;
  let offset = range[0];
  if (options.source !== undefined) {
    // The value and its source differ by quotes and escapes; counting unescaped `${` before
    // the problem finds the same reference in both for every value without `\$`-style escapes.
    const value = String(node.value);
    const ordinal = nthReferenceCount(value, problem.index);
    const raw = options.source.slice(range[0], range[1]);
    const at = nthReference(raw, ordinal);
    if (at !== -1) offset = range[0] + at;
  }
  const { line, col } = options.lineCounter.linePos(offset);
  return { ...location, line, column: col };
}

/** How many unescaped `${` occur in `text` before `index`. */
function nthReferenceCount(text: string, index: number): number {
  let count = 0;
  let i = nthReference(text, 0);
  while (i !== -1 && i < index) {
    count += 1;
    i = nthReference(text, count);
  }
  return count;
}

/**
 * A plain (unquoted) scalar is typed by its text in YAML, so after interpolation it is
 * typed again: `max_tokens: ${MAX_TOKENS:-512}` is the number 512, as if written literally.
 * Quoted scalars stay strings (`id: "${MODEL_ID}"`).
 */
function retype(doc: Document, text: string): unknown {
  if (text === '') return text;
  for (const tag of doc.schema.tags) {
    if (!('test' in tag) || tag.test === undefined || tag.default !== true) continue;
    if (!tag.test.test(text)) continue;
    // Some tags resolve to a Scalar (to keep the source format), others to the bare value.
    const resolved = tag.resolve(text, () => {}, {});
    const value = isScalar(resolved) ? resolved.value : resolved;
    return typeof value === 'number' || typeof value === 'boolean' || value === null ? value : text;
  }
  return text;
}

/**
 * Interpolates every string value of `doc` in place (map keys are left alone: they are the
 * schema's vocabulary, not data). Anchored values are interpolated once and every alias sees
 * the result. Throws the first problem as a `config_invalid` {@link HarnessError} that
 * names the variable, the YAML path, line and column.
 */
export function interpolateDocument(doc: Document, options: InterpolateDocumentOptions = {}): void {
  const env = options.env ?? process.env;
  const visit = (node: unknown, path: Array<string | number>): void => {
    if (isScalar(node)) {
      if (typeof node.value !== 'string') return;
      const result = scan(node.value, env);
      if (!result.ok) throw problemError(result.problem, errorLocation(node, result.problem, path, options));
      if (!result.changed) return;
      node.value = node.type === 'PLAIN' ? retype(doc, result.value) : result.value;
    } else if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => {
        visit(item as Node, [...path, index]);
      });
    }
  };
  visit(doc.contents, []);
}
