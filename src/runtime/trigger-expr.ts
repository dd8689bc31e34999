/**
 * The `trigger_on` condition language of {@link RecursionPolicy}: a small, safe expression
 * grammar over the result fields of a finished agent step (`confidence < 0.6`,
 * `output contains "sorry" and attempt < 3`). A hand-written recursive-descent parser; no
 * `eval`, no `new Function`, so a config file can never run code through a trigger.
 *
 * Grammar (keywords are case-insensitive, field names are not):
 * ```
 * expr       := and (('or' | '||') and)*
 * and        := unary (('and' | '&&') unary)*
 * unary      := ('not' | '!') unary | primary
 * primary    := '(' expr ')' | 'true' | 'false' | comparison
 * comparison := operand ('<' | '<=' | '>' | '>=' | '==' | '!=') operand   (one field, one literal)
 *             | field 'contains' string
 * operand    := field | number | string | 'true' | 'false'
 * number     := -?(digits[.digits] | .digits)([eE][+-]?digits)?
 * string     := "..." | '...'   (backslash escapes: \n \t \r, any other \c is c)
 * ```
 * `not` binds tighter than `and`, `and` tighter than `or`, so `a or b and c` is
 * `a or (b and c)` and `not confidence < 0.6` is `not (confidence < 0.6)`.
 *
 * @module
 */
import { didYouMean } from '../config/did-you-mean.ts';
import { HarnessError } from '../errors.ts';

/**
 * Fields a trigger can read, all optional. A comparison (every operator, `!=` and `contains`
 * included) with a field that is missing, `NaN` or of the wrong type is **false**; `not`
 * inverts that, so `not (confidence >= 0.6)` holds when no confidence was reported.
 */
export interface TriggerFields {
  /** How sure the agent is of its answer, 0..1 (see `extractConfidence`). */
  confidence?: number;
  /** Characters (UTF-16 code units) of the answer. */
  output_length?: number;
  /** Model/tool loop steps the agent used. */
  steps?: number;
  /** Tool calls that failed in the step. */
  tool_errors?: number;
  /** Prompt tokens of the step. */
  input_tokens?: number;
  /** Completion tokens of the step. */
  output_tokens?: number;
  /** Cost of the step in US dollars. */
  cost_usd?: number;
  /** 0 for a council's own agents, +1 per sub-agent level. */
  depth?: number;
  /** 1 for the first try, 2 after a ReAsk, ... */
  attempt?: number;
  /** The answer text (for `contains`, `==` and `!=`). */
  output?: string;
}

/** Every field name a trigger may use, in the order error hints list them. */
export const triggerFieldNames: readonly (keyof TriggerFields)[] = [
  'confidence',
  'output_length',
  'steps',
  'tool_errors',
  'input_tokens',
  'output_tokens',
  'cost_usd',
  'depth',
  'attempt',
  'output',
];

/** A parsed `trigger_on` condition. */
export interface Trigger {
  /** The expression as written. */
  readonly source: string;
  /** True when the condition holds for these fields. */
  test(fields: TriggerFields): boolean;
  /** The fields it reads, each once, in order of first use, e.g. `['confidence']` (for explain output). */
  readonly fields: readonly string[];
}

/** A comparison operator, with the field on its left. */
export type TriggerComparison = '<' | '<=' | '>' | '>=' | '==' | '!=';

/**
 * The syntax tree of a trigger. A literal written on the left (`0.6 > confidence`) is
 * normalised to the field on the left (`confidence < 0.6`); `a or b or c` is one `or` node
 * with three operands. Positions are not kept, so two spellings of one condition have equal trees.
 */
export type TriggerNode =
  | { readonly kind: 'or' | 'and'; readonly operands: readonly TriggerNode[] }
  | { readonly kind: 'not'; readonly operand: TriggerNode }
  | { readonly kind: 'constant'; readonly value: boolean }
  | {
      readonly kind: 'compare';
      readonly field: keyof TriggerFields;
      readonly op: TriggerComparison;
      readonly value: number | string;
    }
  | { readonly kind: 'contains'; readonly field: keyof TriggerFields; readonly value: string };

/** Longest accepted expression, in characters: keeps parsing and evaluation bounded for any config. */
export const maxTriggerLength = 2000;
/** Deepest nesting of parentheses and `not`, for the same reason. */
const maxNesting = 64;

const textFields: ReadonlySet<string> = new Set(['output']);
const keywords = ['and', 'or', 'not', 'contains', 'true', 'false'] as const;
const comparisons: ReadonlySet<string> = new Set(['<', '<=', '>', '>=', '==', '!=']);
const flipped: Record<TriggerComparison, TriggerComparison> = {
  '<': '>',
  '<=': '>=',
  '>': '<',
  '>=': '<=',
  '==': '==',
  '!=': '!=',
};

type Token =
  | { kind: 'number'; value: number; start: number; end: number }
  | { kind: 'string'; value: string; start: number; end: number }
  | { kind: 'word'; text: string; start: number; end: number }
  | { kind: 'symbol'; text: string; start: number; end: number }
  | { kind: 'end'; start: number; end: number }
  // A character the tokenizer could not read: the parser reports it only when it gets there,
  // so an earlier grammar error (`x 💥` → unknown field x) is the one the user sees.
  | { kind: 'bad'; problem: Problem; start: number; end: number };

/** Thrown inside the parser; {@link parseTriggerTree} turns it into a HarnessError. */
class Problem {
  readonly reason: string;
  /** 0-based index into the source. */
  readonly index: number;
  readonly hint: string;
  /** Text after the column, such as a did-you-mean. */
  readonly suffix: string;
  constructor(reason: string, index: number, hint: string, suffix = '') {
    this.reason = reason;
    this.index = index;
    this.hint = hint;
    this.suffix = suffix;
  }
}

const grammarHint =
  'write comparisons of a field with a literal (confidence < 0.6, output contains "sorry") joined by and, or, not and parentheses';
const fieldsHint = `fields: ${triggerFieldNames.join(', ')}`;

const numberPattern = /-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y;
const wordPattern = /[A-Za-z_][A-Za-z0-9_]*/y;
const escapes: Record<string, string> = { n: '\n', t: '\t', r: '\r' };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  try {
    readTokens(source, tokens);
  } catch (error) {
    if (!(error instanceof Problem)) throw error;
    tokens.push({ kind: 'bad', problem: error, start: error.index, end: error.index });
  }
  return tokens;
}

function readTokens(source: string, tokens: Token[]): void {
  let i = 0;
  while (i < source.length) {
    const char = source[i] as string;
    if (/\s/.test(char)) {
      i += 1;
      continue;
    }
    const start = i;
    numberPattern.lastIndex = i;
    const number = /[0-9.-]/.test(char) ? numberPattern.exec(source) : null;
    if (number !== null) {
      i += number[0].length;
      // `0.6abc`, `1e`, `1.2.3`: one bad word, not a number followed by something else.
      const rest = /[A-Za-z0-9_.]*/y;
      rest.lastIndex = i;
      const tail = rest.exec(source)?.[0] ?? '';
      if (tail !== '') {
        throw new Problem(
          `invalid number "${number[0]}${tail}"`,
          start,
          'write numbers as 0.6, .5, 1e3 or -2',
        );
      }
      const value = Number(number[0]);
      if (!Number.isFinite(value)) {
        throw new Problem(`number "${number[0]}" is out of range`, start, 'use a finite number');
      }
      tokens.push({ kind: 'number', value, start, end: i });
      continue;
    }
    wordPattern.lastIndex = i;
    const word = wordPattern.exec(source);
    if (word !== null) {
      i += word[0].length;
      tokens.push({ kind: 'word', text: word[0], start, end: i });
      continue;
    }
    if (char === '"' || char === "'") {
      let value = '';
      i += 1;
      for (;;) {
        const next = source[i];
        if (next === undefined) {
          throw new Problem(`unterminated string`, start, `close the string with ${char}`);
        }
        i += 1;
        if (next === char) break;
        if (next === '\\') {
          const escaped = source[i];
          if (escaped === undefined)
            throw new Problem(`unterminated string`, start, `close the string with ${char}`);
          value += escapes[escaped] ?? escaped;
          i += 1;
        } else {
          value += next;
        }
      }
      tokens.push({ kind: 'string', value, start, end: i });
      continue;
    }
    const two = source.slice(i, i + 2);
    if (comparisons.has(two) || two === '&&' || two === '||') {
      i += 2;
      tokens.push({ kind: 'symbol', text: two, start, end: i });
      continue;
    }
    if ('<>!()'.includes(char)) {
      i += 1;
      tokens.push({ kind: 'symbol', text: char, start, end: i });
      continue;
    }
    const meant: Record<string, string> = { '=': '==', '&': '&&', '|': '||' };
    const suggestion = meant[char];
    // Whole code point and JSON quoting, so an emoji or a control character reads well in the message.
    throw new Problem(
      `unexpected ${JSON.stringify(String.fromCodePoint(source.codePointAt(i) ?? 0))}`,
      start,
      suggestion === undefined ? grammarHint : `write ${suggestion}`,
      suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`,
    );
  }
  tokens.push({ kind: 'end', start: source.length, end: source.length });
}

function describe(token: Token): string {
  switch (token.kind) {
    case 'end':
    case 'bad':
      return 'the end';
    case 'number':
      return String(token.value);
    case 'string':
      return JSON.stringify(token.value);
    default:
      return `"${token.text}"`;
  }
}

function isKeyword(token: Token, keyword: (typeof keywords)[number]): boolean {
  return token.kind === 'word' && token.text.toLowerCase() === keyword;
}

function isSymbol(token: Token, ...symbols: string[]): boolean {
  return token.kind === 'symbol' && symbols.includes(token.text);
}

type Operand =
  | { kind: 'field'; field: keyof TriggerFields; token: Token }
  | { kind: 'literal'; value: number | string | boolean; token: Token };

class Parser {
  private position = 0;
  private depth = 0;

  private readonly tokens: readonly Token[];

  constructor(tokens: readonly Token[]) {
    this.tokens = tokens;
  }

  parse(): TriggerNode {
    const node = this.or();
    const next = this.peek();
    if (next.kind !== 'end') {
      if (isSymbol(next, ')'))
        throw new Problem('unexpected ")" with no "(" before it', next.start, grammarHint);
      const suggestion =
        next.kind === 'word' ? didYouMean(next.text.toLowerCase(), ['and', 'or']) : undefined;
      throw new Problem(
        `expected and, or or the end, not ${describe(next)},`,
        next.start,
        suggestion === undefined ? 'join conditions with and / or' : `write ${suggestion}`,
        suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`,
      );
    }
    return node;
  }

  private peek(): Token {
    // The tokenizer always ends the list with an `end` or `bad` token, and `next` never moves past it.
    const token = this.tokens[this.position] as Token;
    if (token.kind === 'bad') throw token.problem;
    return token;
  }

  private next(): Token {
    const token = this.peek();
    if (token.kind !== 'end') this.position += 1;
    return token;
  }

  private or(): TriggerNode {
    const operands = [this.and()];
    while (isKeyword(this.peek(), 'or') || isSymbol(this.peek(), '||')) {
      this.next();
      operands.push(this.and());
    }
    return operands.length === 1 ? (operands[0] as TriggerNode) : { kind: 'or', operands };
  }

  private and(): TriggerNode {
    const operands = [this.unary()];
    while (isKeyword(this.peek(), 'and') || isSymbol(this.peek(), '&&')) {
      this.next();
      operands.push(this.unary());
    }
    return operands.length === 1 ? (operands[0] as TriggerNode) : { kind: 'and', operands };
  }

  private nested<T>(at: Token, parse: () => T): T {
    this.depth += 1;
    if (this.depth > maxNesting) {
      throw new Problem(
        `nested deeper than ${maxNesting} levels`,
        at.start,
        'use fewer parentheses and nots',
      );
    }
    const result = parse();
    this.depth -= 1;
    return result;
  }

  private unary(): TriggerNode {
    const token = this.peek();
    if (isKeyword(token, 'not') || isSymbol(token, '!')) {
      this.next();
      return this.nested(token, () => ({ kind: 'not', operand: this.unary() }));
    }
    return this.primary();
  }

  private primary(): TriggerNode {
    const token = this.peek();
    if (isSymbol(token, '(')) {
      this.next();
      const inner = this.nested(token, () => this.or());
      const close = this.peek();
      if (!isSymbol(close, ')')) {
        throw new Problem(
          `expected ")" (for the "(" at column ${token.start + 1}), not ${describe(close)},`,
          close.start,
          'close every "(" with ")"',
        );
      }
      this.next();
      return inner;
    }
    if (token.kind === 'end' || token.kind === 'symbol') {
      throw new Problem('expected a condition', token.start, grammarHint);
    }
    const left = this.operand();
    const op = this.peek();
    if (left.kind === 'literal' && typeof left.value === 'boolean' && !comparisons.has(symbolText(op))) {
      return { kind: 'constant', value: left.value };
    }
    if (isKeyword(op, 'contains')) {
      this.next();
      return this.contains(left);
    }
    if (!comparisons.has(symbolText(op))) {
      const what = left.kind === 'field' ? `field "${left.field}" is not a condition: ` : '';
      throw new Problem(
        `${what}expected a comparison (<, <=, >, >=, ==, !=${left.kind === 'field' ? ', contains' : ''}) after ${describe(left.token)}, not ${describe(op)},`,
        op.start,
        left.kind === 'field' ? `compare it with a value, e.g. ${example(left.field)}` : grammarHint,
      );
    }
    this.next();
    const right = this.operand();
    return compare(left, symbolText(op) as TriggerComparison, right);
  }

  private contains(left: Operand): TriggerNode {
    if (left.kind !== 'field' || !textFields.has(left.field)) {
      throw new Problem(
        `contains needs the text field output on its left, not ${describe(left.token)},`,
        left.token.start,
        'write output contains "sorry"',
      );
    }
    const right = this.peek();
    if (right.kind !== 'string') {
      throw new Problem(
        `expected a string after contains, not ${describe(right)},`,
        right.start,
        'write output contains "sorry"',
      );
    }
    this.next();
    return { kind: 'contains', field: left.field, value: right.value };
  }

  private operand(): Operand {
    const token = this.peek();
    if (token.kind === 'number' || token.kind === 'string') {
      this.next();
      return { kind: 'literal', value: token.value, token };
    }
    if (token.kind === 'word') {
      const lower = token.text.toLowerCase();
      if (lower === 'true' || lower === 'false') {
        this.next();
        return { kind: 'literal', value: lower === 'true', token };
      }
      if ((triggerFieldNames as readonly string[]).includes(token.text)) {
        this.next();
        return { kind: 'field', field: token.text as keyof TriggerFields, token };
      }
      if ((keywords as readonly string[]).includes(lower)) {
        throw new Problem(
          `expected a number, a string or a field, not "${token.text}",`,
          token.start,
          fieldsHint,
        );
      }
      const suggestion = didYouMean(token.text, triggerFieldNames);
      throw new Problem(
        `unknown field "${token.text}"`,
        token.start,
        suggestion === undefined ? fieldsHint : `use ${suggestion}; ${fieldsHint}`,
        suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`,
      );
    }
    const found = token.kind === 'end' ? '' : `, not ${describe(token)},`;
    throw new Problem(`expected a number, a string or a field${found}`, token.start, fieldsHint);
  }
}

function symbolText(token: Token): string {
  return token.kind === 'symbol' ? token.text : '';
}

function example(field: keyof TriggerFields): string {
  return textFields.has(field)
    ? `${field} contains "sorry"`
    : field === 'confidence'
      ? 'confidence < 0.6'
      : `${field} > 3`;
}

function compare(left: Operand, op: TriggerComparison, right: Operand): TriggerNode {
  if (left.kind === right.kind) {
    const which = left.kind === 'field' ? 'two fields' : 'two literals';
    throw new Problem(`compare a field with a literal, not ${which},`, right.token.start, grammarHint);
  }
  const [field, literal, fieldOp] =
    left.kind === 'field'
      ? [left, right as Operand & { kind: 'literal' }, op]
      : [right as Operand & { kind: 'field' }, left, flipped[op]];
  const text = textFields.has(field.field);
  const wanted = text ? 'string' : 'number';
  if (typeof literal.value !== wanted) {
    throw new Problem(
      `field "${field.field}" is ${text ? 'text' : 'a number'}: compare it with a ${wanted}, not ${describe(literal.token)},`,
      literal.token.start,
      `e.g. ${example(field.field)}`,
    );
  }
  if (text && fieldOp !== '==' && fieldOp !== '!=') {
    throw new Problem(
      `field "${field.field}" is text: use ==, != or contains, not ${op},`,
      field === left ? right.token.start : left.token.start,
      `e.g. ${example(field.field)}; output_length compares the answer's length`,
    );
  }
  return { kind: 'compare', field: field.field, op: fieldOp, value: literal.value as number | string };
}

/**
 * Parses one expression into its syntax tree (for tools and tests; most callers want
 * {@link parseTrigger}). Throws `HarnessError('trigger_invalid')` as {@link parseTrigger} does.
 */
export function parseTriggerTree(source: string): TriggerNode {
  try {
    if (source.length > maxTriggerLength) {
      throw new Problem(
        `longer than ${maxTriggerLength} characters`,
        maxTriggerLength,
        'split it into several trigger_on entries',
      );
    }
    return new Parser(tokenize(source)).parse();
  } catch (error) {
    if (!(error instanceof Problem)) throw error;
    const column = error.index + 1;
    const shown = source.length > 120 ? `${source.slice(0, 117)}...` : source;
    throw new HarnessError(
      'trigger_invalid',
      `trigger_on ${JSON.stringify(shown)} : ${error.reason} at column ${column}${error.suffix}`,
      { hint: error.hint, details: { expression: source, column } },
    );
  }
}

function holds(node: TriggerNode, fields: TriggerFields): boolean {
  switch (node.kind) {
    case 'or':
      return node.operands.some((operand) => holds(operand, fields));
    case 'and':
      return node.operands.every((operand) => holds(operand, fields));
    case 'not':
      return !holds(node.operand, fields);
    case 'constant':
      return node.value;
    case 'contains': {
      const value: unknown = fields[node.field];
      return typeof value === 'string' && value.toLowerCase().includes(node.value.toLowerCase());
    }
    case 'compare': {
      const value: unknown = fields[node.field];
      // Missing, NaN or mistyped (a JS caller passing '0.5'): the comparison is false, whatever the operator.
      if (typeof value !== typeof node.value || Number.isNaN(value)) return false;
      const left = value as number | string;
      switch (node.op) {
        case '<':
          return left < node.value;
        case '<=':
          return left <= node.value;
        case '>':
          return left > node.value;
        case '>=':
          return left >= node.value;
        case '==':
          return left === node.value;
        case '!=':
          return left !== node.value;
      }
    }
  }
}

function quote(text: string): string {
  return `"${text.replace(/[\\"\n\t\r]/g, (char) => ({ '\n': '\\n', '\t': '\\t', '\r': '\\r' })[char] ?? `\\${char}`)}"`;
}

function literal(value: number | string): string {
  if (typeof value === 'string') return quote(value);
  return Object.is(value, -0) ? '-0' : String(value);
}

/**
 * Prints a tree as an expression that parses back to the same tree: `and`/`or` inside
 * another `and`/`or`, and under `not`, get parentheses; strings use double quotes.
 */
export function formatTrigger(node: TriggerNode): string {
  const inner = (child: TriggerNode): string =>
    child.kind === 'and' || child.kind === 'or' ? `(${formatTrigger(child)})` : formatTrigger(child);
  switch (node.kind) {
    case 'or':
    case 'and':
      return node.operands.map(inner).join(` ${node.kind} `);
    case 'not':
      return `not ${inner(node.operand)}`;
    case 'constant':
      return String(node.value);
    case 'contains':
      return `${node.field} contains ${quote(node.value)}`;
    case 'compare':
      return `${node.field} ${node.op} ${literal(node.value)}`;
  }
}

function fieldsOf(node: TriggerNode, out: string[]): string[] {
  switch (node.kind) {
    case 'or':
    case 'and':
      for (const operand of node.operands) fieldsOf(operand, out);
      break;
    case 'not':
      fieldsOf(node.operand, out);
      break;
    case 'constant':
      break;
    default:
      if (!out.includes(node.field)) out.push(node.field);
  }
  return out;
}

/**
 * Parses one `trigger_on` expression. Throws `HarnessError('trigger_invalid', message,
 * { details: { expression, column }, hint })` with a 1-based column (in UTF-16 code units
 * of `source`) pointing at the offending character, e.g.
 * `trigger_on "confidence < " : expected a number, a string or a field at column 14`.
 * Unknown fields get a did-you-mean. Expressions longer than {@link maxTriggerLength} or
 * nested deeper than 64 levels are rejected.
 */
export function parseTrigger(source: string): Trigger {
  const tree = parseTriggerTree(source);
  const fields = Object.freeze(fieldsOf(tree, []));
  return Object.freeze({ source, fields, test: (values: TriggerFields) => holds(tree, values) });
}
