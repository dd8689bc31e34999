import { describe, expect, it } from 'vitest';
import { LineCounter, parseDocument } from 'yaml';
import { createYamlLocator } from './yaml-source.ts';

function locatorFor(source: string, file?: string) {
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter });
  return createYamlLocator(doc, lineCounter, file);
}

describe('createYamlLocator', () => {
  const source = [
    'defaults: &agent',
    '  model: gpt-4o',
    'councils:',
    '  - name: C',
    '    agents:',
    '      - *agent',
    '      - { name: B, model: m }',
    '    empty:',
  ].join('\n');

  it('points at values, or at keys on request', () => {
    const locator = locatorFor(source, 'c.yaml');
    expect(locator.locate(['councils', 0, 'name'])).toEqual({
      file: 'c.yaml',
      path: 'councils[0].name',
      line: 4,
      column: 11,
    });
    expect(locator.locate(['councils', 0, 'name'], 'key')).toMatchObject({ line: 4, column: 5 });
    expect(locator.locate(['councils', 0, 'agents', 1, 'model'])).toMatchObject({ line: 7, column: 27 });
  });

  it('follows aliases to the anchored node', () => {
    const locator = locatorFor(source);
    expect(locator.locate(['councils', 0, 'agents', 0, 'model'])).toEqual({
      path: 'councils[0].agents[0].model',
      line: 2,
      column: 10,
    });
    expect(locator.has(['councils', 0, 'agents', 0, 'model'])).toBe(true);
  });

  it('falls back to the deepest existing ancestor', () => {
    const locator = locatorFor(source);
    expect(locator.has(['councils', 0, 'agents', 5])).toBe(false);
    expect(locator.locate(['councils', 0, 'agents', 5, 'name'])).toMatchObject({
      path: 'councils[0].agents[5].name',
      line: 6,
      column: 7,
    });
    expect(locator.locate(['nope'])).toMatchObject({ path: 'nope', line: 1, column: 1 });
    // A key used as a list index, or an index used on a map, stops the walk too.
    expect(locator.locate(['councils', 'name'])).toMatchObject({ line: 4, column: 3 });
  });

  it('points at the key when a key has no value', () => {
    expect(locatorFor(source).locate(['councils', 0, 'empty'])).toMatchObject({ line: 8, column: 11 });
  });

  it('has no line for an empty document', () => {
    expect(locatorFor('').locate(['models'])).toEqual({ path: 'models' });
  });
});
