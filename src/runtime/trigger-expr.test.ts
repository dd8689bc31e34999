import { describe, expect, it } from 'vitest';
import { thrown } from '../../test/harness-errors.ts';
import {
  formatTrigger,
  maxTriggerLength,
  parseTrigger,
  parseTriggerTree,
  type TriggerFields,
  triggerFieldNames,
} from './trigger-expr.ts';

function test(source: string, fields: TriggerFields): boolean {
  return parseTrigger(source).test(fields);
}

describe('parseTrigger: comparisons', () => {
  it.each([
    ['confidence < 0.6', 0.5, true],
    ['confidence < 0.6', 0.6, false],
    ['confidence <= 0.6', 0.6, true],
    ['confidence <= 0.6', 0.7, false],
    ['confidence > 0.6', 0.7, true],
    ['confidence > 0.6', 0.6, false],
    ['confidence >= 0.6', 0.6, true],
    ['confidence >= 0.6', 0.5, false],
    ['confidence == 0.6', 0.6, true],
    ['confidence == 0.6', 0.5, false],
    ['confidence != 0.6', 0.5, true],
    ['confidence != 0.6', 0.6, false],
  ] as const)('%s with confidence %d is %s', (source, confidence, expected) => {
    expect(test(source, { confidence })).toBe(expected);
  });

  it.each([
    ['0.6 > confidence', 'confidence < 0.6'],
    ['0.6 >= confidence', 'confidence <= 0.6'],
    ['0.6 < confidence', 'confidence > 0.6'],
    ['0.6 <= confidence', 'confidence >= 0.6'],
    ['0.6 == confidence', 'confidence == 0.6'],
    ['0.6 != confidence', 'confidence != 0.6'],
  ])('a literal on the left is flipped: %s is %s', (source, same) => {
    expect(parseTriggerTree(source)).toEqual(parseTriggerTree(same));
    for (const confidence of [0.5, 0.6, 0.7])
      expect(test(source, { confidence })).toBe(test(same, { confidence }));
  });

  it.each([
    ['steps > 0.6', 1],
    ['steps > .5', 1],
    ['steps == 1e3', 1000],
    ['steps == 1E+3', 1000],
    ['cost_usd == 2.5e-3', 0.0025],
    ['depth > -1', 0],
    ['depth == -.5', -0.5],
    ['steps == 5.', 5],
  ])('number literal in %s', (source, value) => {
    const field = source.split(' ')[0] as keyof TriggerFields;
    expect(test(source, { [field]: value })).toBe(true);
  });

  it('reads every field', () => {
    for (const field of triggerFieldNames) {
      const source = field === 'output' ? 'output == "x"' : `${field} == 7`;
      const trigger = parseTrigger(source);
      expect(trigger.fields).toEqual([field]);
      expect(trigger.test({ [field]: field === 'output' ? 'x' : 7 })).toBe(true);
    }
  });

  it('compares text exactly with == and != and finds it case-insensitively with contains', () => {
    expect(test('output == "Sorry"', { output: 'Sorry' })).toBe(true);
    expect(test('output == "Sorry"', { output: 'sorry' })).toBe(false);
    expect(test('output != "Sorry"', { output: 'sorry' })).toBe(true);
    expect(test('"Sorry" == output', { output: 'Sorry' })).toBe(true);
    expect(test('output contains "sorry"', { output: "I'm SORRY, I can't" })).toBe(true);
    expect(test(`output contains 'say "hi"'`, { output: 'They SAY "HI"' })).toBe(true);
    expect(test("output CONTAINS 'can\\'t'", { output: "I CAN'T" })).toBe(true);
    expect(test('output contains "a\\"b\\\\c\\n"', { output: 'A"B\\C\n' })).toBe(true);
    expect(test('output contains "unsure"', { output: 'sure' })).toBe(false);
  });
});

describe('parseTrigger: logic', () => {
  const fields = { confidence: 0.5, steps: 3, tool_errors: 0 };

  it.each([
    ['confidence < 0.6 and steps > 2', true],
    ['confidence < 0.6 && steps > 3', false],
    ['confidence > 0.6 or steps > 2', true],
    ['confidence > 0.6 || steps > 3', false],
    ['not confidence > 0.6', true],
    ['! confidence < 0.6', false],
    ['!!(confidence < 0.6)', true],
    ['not not confidence < 0.6', true],
    ['NOT (confidence < 0.6 AND steps > 2) Or tool_errors > 0', false],
    ['true', true],
    ['false', false],
    ['FALSE or true', true],
    ['((confidence < 0.6))', true],
  ])('%s is %s', (source, expected) => {
    expect(test(source, fields)).toBe(expected);
  });

  it('gives and precedence over or: a or b and c is a or (b and c)', () => {
    const source = 'confidence < 0.6 or steps > 5 and tool_errors > 0';
    expect(parseTriggerTree(source)).toEqual(
      parseTriggerTree('confidence < 0.6 or (steps > 5 and tool_errors > 0)'),
    );
    // a true, b false, c false: a or (b and c) holds, (a or b) and c does not.
    expect(test(source, fields)).toBe(true);
    expect(test('(confidence < 0.6 or steps > 5) and tool_errors > 0', fields)).toBe(false);
  });

  it('binds not tighter than and', () => {
    expect(parseTriggerTree('not confidence < 0.6 and steps > 2')).toEqual({
      kind: 'and',
      operands: [
        { kind: 'not', operand: { kind: 'compare', field: 'confidence', op: '<', value: 0.6 } },
        { kind: 'compare', field: 'steps', op: '>', value: 2 },
      ],
    });
  });

  it('keeps a chain as one node and explicit groups as their own', () => {
    expect(parseTriggerTree('true or false or true')).toEqual({
      kind: 'or',
      operands: [
        { kind: 'constant', value: true },
        { kind: 'constant', value: false },
        { kind: 'constant', value: true },
      ],
    });
    const grouped = parseTriggerTree('true or (false or true)');
    expect(grouped).toMatchObject({ kind: 'or', operands: [{}, { kind: 'or' }] });
    expect(parseTriggerTree(formatTrigger(grouped))).toEqual(grouped);
  });

  it('lists the fields it reads once, in order of first use', () => {
    const trigger = parseTrigger('steps > 3 or confidence < 0.6 and steps < 10 or output contains "x"');
    expect(trigger.fields).toEqual(['steps', 'confidence', 'output']);
    expect(parseTrigger('true').fields).toEqual([]);
    expect(trigger.source).toBe('steps > 3 or confidence < 0.6 and steps < 10 or output contains "x"');
  });
});

describe('parseTrigger: a comparison with a missing field is false', () => {
  it.each([
    'confidence < 0.6',
    'confidence <= 0.6',
    'confidence > 0.6',
    'confidence >= 0.6',
    'confidence == 0.6',
  ])('%s is false without confidence', (source) => {
    expect(test(source, {})).toBe(false);
  });

  it('!= and contains are false too, and not inverts', () => {
    expect(test('confidence != 0.6', {})).toBe(false);
    expect(test('output contains ""', {})).toBe(false);
    expect(test('output != "x"', {})).toBe(false);
    expect(test('not confidence >= 0.6', {})).toBe(true);
    expect(test('confidence < 0.6 or steps > 2', { steps: 3 })).toBe(true);
  });

  it('treats NaN and values of the wrong type (from JS callers) as missing', () => {
    expect(test('confidence != 0.6', { confidence: Number.NaN })).toBe(false);
    expect(test('confidence < 0.6', { confidence: '0.1' } as unknown as TriggerFields)).toBe(false);
    expect(test('output contains "1"', { output: 1 } as unknown as TriggerFields)).toBe(false);
  });
});

describe('parseTrigger: errors point at the column', () => {
  it('names the expression and the column in the message and details', () => {
    const error = thrown(() => parseTrigger('confidence < '));
    expect(error.code).toBe('trigger_invalid');
    expect(error.message).toBe(
      'trigger_on "confidence < " : expected a number, a string or a field at column 14',
    );
    expect(error.details).toEqual({ expression: 'confidence < ', column: 14 });
    expect(error.hint).toContain('confidence, output_length');
  });

  it.each([
    ['confidence << 0.6', 13, 'expected a number, a string or a field, not "<"'],
    ['confidnce < 0.6', 1, 'unknown field "confidnce" at column 1 (did you mean "confidence"?)'],
    [
      'steps > 3 and tool_erors > 0',
      15,
      'unknown field "tool_erors" at column 15 (did you mean "tool_errors"?)',
    ],
    ['banana > 1', 1, 'unknown field "banana" at column 1'],
    ['confidence', 11, 'field "confidence" is not a condition'],
    ['confidence and steps > 1', 12, 'field "confidence" is not a condition'],
    ['0.6', 4, 'expected a comparison'],
    ['', 1, 'expected a condition'],
    ['   ', 4, 'expected a condition'],
    ['confidence < 0.6 and', 21, 'expected a condition'],
    ['confidence < 0.6 adn steps > 1', 18, 'not "adn", at column 18 (did you mean "and"?)'],
    ['(confidence < 0.6', 18, 'expected ")" (for the "(" at column 1), not the end'],
    ['confidence < 0.6)', 17, 'unexpected ")"'],
    ['confidence = 0.6', 12, 'unexpected "=" at column 12 (did you mean "=="?)'],
    ['confidence < 0.6 & steps > 1', 18, 'did you mean "&&"?'],
    ['confidence < 0.6 | steps > 1', 18, 'did you mean "||"?'],
    ['confidence < 0.6abc', 14, 'invalid number "0.6abc"'],
    ['confidence < 1.2.3', 14, 'invalid number "1.2.3"'],
    ['confidence < 1e999', 14, 'out of range'],
    ['output contains "sorry', 17, 'unterminated string'],
    ["output == 'x\\", 11, 'unterminated string'],
    ['1 < 2', 5, 'not two literals'],
    ['steps > tool_errors', 9, 'not two fields'],
    ['steps > "3"', 9, 'field "steps" is a number: compare it with a number'],
    ['steps == true', 10, 'compare it with a number, not "true"'],
    ['output == 3', 11, 'field "output" is text: compare it with a string'],
    ['output < "x"', 10, 'field "output" is text: use ==, != or contains'],
    ['"x" > output', 1, 'field "output" is text: use ==, != or contains'],
    ['steps contains "3"', 1, 'contains needs the text field output'],
    ['output contains 3', 17, 'expected a string after contains'],
    ['not', 4, 'expected a condition'],
    ['confidence < and', 14, 'not "and"'],
    ['confidence < 0.6 # x', 18, 'unexpected "#"'],
    ['x 💥', 1, 'unknown field "x"'],
    ['confidence < 0.6 💥', 18, 'unexpected "💥"'],
    ['confidence < - 1', 14, 'unexpected "-"'],
  ])('%j fails at column %d', (source, column, fragment) => {
    const error = thrown(() => parseTrigger(source));
    expect(error.code).toBe('trigger_invalid');
    expect(error.details).toEqual({ expression: source, column });
    expect(error.message).toContain(`at column ${column}`);
    expect(error.message).toContain(fragment);
    expect(error.message.startsWith(`trigger_on ${JSON.stringify(source)} : `)).toBe(true);
    expect(error.hint).toBeTruthy();
  });

  it('bounds length and nesting', () => {
    const long = `confidence < 0.6${' or confidence < 0.6'.repeat(maxTriggerLength / 20)}`;
    expect(long.length).toBeGreaterThan(maxTriggerLength);
    expect(thrown(() => parseTrigger(long)).message).toContain(`longer than ${maxTriggerLength} characters`);
    expect(thrown(() => parseTrigger(long)).message).toContain('..."');
    expect(parseTrigger(`${'('.repeat(64)}true${')'.repeat(64)}`).test({})).toBe(true);
    expect(thrown(() => parseTrigger(`${'('.repeat(65)}true${')'.repeat(65)}`)).details).toEqual({
      expression: `${'('.repeat(65)}true${')'.repeat(65)}`,
      column: 65,
    });
    expect(thrown(() => parseTrigger(`${'not '.repeat(65)}true`)).message).toContain('nested deeper than 64');
  });
});

describe('formatTrigger', () => {
  it.each([
    ['confidence<.6', 'confidence < 0.6'],
    [
      '0.6 > confidence && !(steps >= 1e3 || output contains "a\\"b")',
      'confidence < 0.6 and not (steps >= 1000 or output contains "a\\"b")',
    ],
    ["output == 'tab\\there'", 'output == "tab\\there"'],
    ['depth == -0', 'depth == -0'],
    ['TRUE', 'true'],
  ])('%s prints as %s', (source, printed) => {
    const tree = parseTriggerTree(source);
    expect(formatTrigger(tree)).toBe(printed);
    expect(parseTriggerTree(printed)).toEqual(tree);
  });
});
