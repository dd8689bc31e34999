import { describe, expect, it } from 'vitest';
import { thrown } from '../../test/harness-errors.ts';
import { RecursionPolicy } from './recursion-policy.ts';

describe('RecursionPolicy', () => {
  it('parses every triggerOn entry into a trigger', () => {
    const policy = new RecursionPolicy({ triggerOn: ['confidence < 0.6', 'output contains "sorry"'] });
    expect(policy.triggers.map((trigger) => trigger.source)).toEqual(policy.triggerOn);
    expect(policy.triggers.map((trigger) => trigger.test({ confidence: 0.5, output: 'Sorry!' }))).toEqual([
      true,
      true,
    ]);
    expect(new RecursionPolicy().triggers).toEqual([]);
    // The parsed triggers are not part of the policy's JSON form.
    expect(JSON.stringify(policy)).toBe(
      '{"maxDepth":3,"triggerOn":["confidence < 0.6","output contains \\"sorry\\""],"fallback":"BestSoFar"}',
    );
  });

  it('rejects a bad entry at construction, naming its index and the column', () => {
    const error = thrown(() => new RecursionPolicy({ triggerOn: ['confidence < 0.6', 'confidence << 0.6'] }));
    expect(error.code).toBe('trigger_invalid');
    expect(error.location).toEqual({ path: 'RecursionPolicy.triggerOn[1]' });
    expect(error.message).toBe(
      'RecursionPolicy.triggerOn[1]: trigger_on "confidence << 0.6" : expected a number, a string or a field, not "<", at column 13',
    );
    expect(error.details).toEqual({ expression: 'confidence << 0.6', column: 13, index: 1 });
    expect(error.hint).toContain('confidence');
    expect(error.format()).toContain('RecursionPolicy.triggerOn[1]');
  });

  it('suggests the field for a misspelt one', () => {
    const error = thrown(() => new RecursionPolicy({ triggerOn: ['confidnce < 0.6'] }));
    expect(error.location?.path).toBe('RecursionPolicy.triggerOn[0]');
    expect(error.message).toContain('unknown field "confidnce" at column 1 (did you mean "confidence"?)');
  });

  it('still reports shape problems as config_invalid', () => {
    expect(thrown(() => new RecursionPolicy({ triggerOn: [''] })).code).toBe('config_invalid');
    expect(thrown(() => new RecursionPolicy({ maxDepth: -1 })).code).toBe('config_invalid');
  });
});
