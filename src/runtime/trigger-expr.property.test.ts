import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import {
  formatTrigger,
  parseTrigger,
  parseTriggerTree,
  type TriggerComparison,
  type TriggerFields,
  type TriggerNode,
  triggerFieldNames,
} from './trigger-expr.ts';

const numberFields = triggerFieldNames.filter((field) => field !== 'output');

/** Pieces of the language (and near misses), so random strings often get deep into the parser. */
const tokenSoup = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        ...triggerFieldNames,
        'confidnce',
        ' and ',
        ' or ',
        'not ',
        '&&',
        '||',
        '!',
        '(',
        ')',
        '<',
        '<=',
        '>',
        '>=',
        '==',
        '!=',
        '=',
        '&',
        '|',
        ' contains ',
        'true',
        'false',
        '0.6',
        '.5',
        '-1',
        '1e3',
        '1e',
        '"sorry"',
        "'it\\'s'",
        '"',
        "'",
        '\\',
        ' ',
        '-',
        '.',
      ),
      fc.string({ maxLength: 3 }),
    ),
    { maxLength: 16 },
  )
  .map((parts) => parts.join(''));

/** Valid expressions in many spellings: keyword case, symbols, spacing, literal sides, quotes. */
const { surface } = fc.letrec<{ surface: string }>((self) => {
  const ws = fc.constantFrom('', ' ', '  ', '\t');
  const number = fc.oneof(
    fc.constantFrom('0.6', '.5', '1e3', '-2', '5.', '1E-2'),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
  );
  const text = fc
    .tuple(fc.string({ maxLength: 6 }), fc.constantFrom('"', "'"))
    .map(([value, quote]) => `${quote}${value.replace(/[\\"']/g, (char) => `\\${char}`)}${quote}`);
  const compare = fc.oneof(
    fc
      .tuple(
        fc.constantFrom(...numberFields),
        ws,
        fc.constantFrom('<', '<=', '>', '>=', '==', '!='),
        ws,
        number,
      )
      .map((parts) => parts.join('')),
    fc
      .tuple(
        number,
        ws,
        fc.constantFrom('<', '<=', '>', '>=', '==', '!='),
        ws,
        fc.constantFrom(...numberFields),
      )
      .map((parts) => parts.join('')),
    fc
      .tuple(fc.constantFrom(' contains ', ' CONTAINS ', ' == ', '!='), text)
      .map(([op, value]) => `output${op}${value}`),
    fc.constantFrom('true', 'false', 'TRUE'),
  );
  return {
    surface: fc.oneof(
      { depthSize: 'small' },
      compare,
      fc
        .tuple(fc.constantFrom('not ', 'NOT ', '!', '! '), self('surface'))
        .map(([not, inner]) => `${not}(${inner})`),
      fc
        .tuple(
          self('surface'),
          fc.constantFrom(' and ', ' or ', '&&', '||', ' AND ', ' Or '),
          self('surface'),
        )
        .map((parts) => parts.join('')),
      self('surface').map((inner) => `(${inner})`),
    ),
  };
});

/** A valid expression with one character deleted or inserted: errors in the middle of real input. */
const mutated = fc
  .tuple(
    surface,
    fc.nat(),
    fc.boolean(),
    fc.constantFrom('(', ')', '"', "'", '<', '=', '!', 'x', ' ', '.', '-', '\\'),
  )
  .map(([source, at, insert, char]) => {
    const i = at % (source.length + 1);
    return insert ? source.slice(0, i) + char + source.slice(i) : source.slice(0, i) + source.slice(i + 1);
  });

const anyFields: fc.Arbitrary<TriggerFields> = fc.record(
  {
    confidence: fc.double({ min: 0, max: 1, noNaN: true }),
    steps: fc.nat(10),
    tool_errors: fc.nat(3),
    output: fc.string({ maxLength: 20 }),
  },
  { requiredKeys: [] },
);

describe('parseTrigger on random text', () => {
  it('throws nothing but trigger_invalid, and what parses evaluates to a boolean', () => {
    let parsed = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 60 }),
          fc.string({ unit: 'binary', maxLength: 60 }),
          tokenSoup,
          surface,
          mutated,
        ),
        anyFields,
        (source, fields) => {
          let trigger: ReturnType<typeof parseTrigger>;
          try {
            trigger = parseTrigger(source);
          } catch (error) {
            expect(HarnessError.isInstance(error)).toBe(true);
            const harnessError = error as HarnessError;
            expect(harnessError.code).toBe('trigger_invalid');
            const column = harnessError.details.column as number;
            expect(column).toBeGreaterThanOrEqual(1);
            expect(column).toBeLessThanOrEqual(source.length + 1);
            return;
          }
          parsed += 1;
          expect(typeof trigger.test(fields)).toBe('boolean');
          // What parses prints as an expression that parses to the same tree.
          const tree = parseTriggerTree(source);
          expect(parseTriggerTree(formatTrigger(tree))).toEqual(tree);
        },
      ),
      { seed: 20261125, numRuns: 4000 },
    );
    // The token soup must reach the success path often, or the round-trip check above tests nothing.
    console.log('PARSED', parsed);
    expect(parsed).toBeGreaterThan(500);
  });
});

const comparison: fc.Arbitrary<TriggerNode> = fc.oneof(
  fc.record({
    kind: fc.constant('compare' as const),
    field: fc.constantFrom(...numberFields),
    op: fc.constantFrom<TriggerComparison>('<', '<=', '>', '>=', '==', '!='),
    value: fc.double({ noNaN: true, noDefaultInfinity: true }),
  }),
  fc.record({
    kind: fc.constant('compare' as const),
    field: fc.constant('output' as const),
    op: fc.constantFrom<TriggerComparison>('==', '!='),
    value: fc.string({ unit: 'binary', maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constant('contains' as const),
    field: fc.constant('output' as const),
    value: fc.oneof(fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom('"', "'", '\\', '\n\t\r')),
  }),
  fc.record({ kind: fc.constant('constant' as const), value: fc.boolean() }),
);

const { tree } = fc.letrec<{ tree: TriggerNode }>((self) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    comparison,
    fc.record({ kind: fc.constant('not' as const), operand: self('tree') }),
    fc.record({
      kind: fc.constantFrom('and' as const, 'or' as const),
      operands: fc.array(self('tree'), { minLength: 2, maxLength: 4 }),
    }),
  ),
}));

describe('formatTrigger', () => {
  it('prints any tree as an expression that parses back to the same tree', () => {
    fc.assert(
      fc.property(tree, anyFields, (node, fields) => {
        const printed = formatTrigger(node);
        const reparsed = parseTriggerTree(printed);
        expect(reparsed).toEqual(node);
        expect(parseTrigger(printed).test(fields)).toBe(parseTrigger(formatTrigger(reparsed)).test(fields));
      }),
      { seed: 20261126, numRuns: 2000 },
    );
  });
});
