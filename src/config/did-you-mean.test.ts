import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance } from './did-you-mean.ts';

describe('editDistance', () => {
  it.each([
    ['', '', 0],
    ['', 'abc', 3],
    ['abc', '', 3],
    ['model', 'model', 0],
    ['modle', 'model', 1], // one transposition, not two substitutions
    ['model', 'mode', 1],
    ['kitten', 'sitting', 3],
    ['ca', 'abc', 3], // optimal string alignment: no edit of a transposed pair
    ['gpt4o', 'gpt-4o', 1],
  ])('%j → %j is %i', (a, b, distance) => {
    expect(editDistance(a, b)).toBe(distance);
    expect(editDistance(b, a)).toBe(distance);
  });
});

describe('didYouMean', () => {
  const agentKeys = [
    'name',
    'model',
    'fallback',
    'instructions',
    'skills',
    'max_tokens',
    'temperature',
    'max_steps',
  ];

  it.each([
    ['modle', agentKeys, 'model'],
    ['modl', agentKeys, 'model'],
    ['maxTokens', agentKeys, 'max_tokens'],
    ['max-steps', agentKeys, 'max_steps'],
    ['instruction', agentKeys, 'instructions'],
    ['skils', agentKeys, 'skills'],
    ['openia', ['openai', 'anthropic', 'google'], 'openai'],
    ['antropic', ['openai', 'anthropic', 'google'], 'anthropic'],
    ['gpt4o', ['gpt-4o', 'claude-3-5-sonnet'], 'gpt-4o'],
    ['claude-sonnet', ['gpt-4o', 'claude-3-5-sonnet'], 'claude-3-5-sonnet'],
    ['nlu', ['NLU', 'Search'], 'NLU'],
    ['SEARCH', ['NLU', 'Search'], 'Search'],
    ['serch', ['NLU', 'Search'], 'Search'],
    ['ID', ['id', 'type'], 'id'],
  ])('%j among %j → %j', (input, candidates, expected) => {
    expect(didYouMean(input, candidates)).toBe(expected);
  });

  it.each([
    ['banana', agentKeys],
    ['xyz', ['NLU', 'Search']],
    ['ip', ['id']], // two characters: only a case difference counts
    ['gpt', ['gpt-4o']], // three insertions for three characters is not a typo
    ['anything', []],
  ])('%j among %j → no suggestion', (input, candidates) => {
    expect(didYouMean(input, candidates)).toBeUndefined();
  });

  it('suggests nothing for an exact match', () => {
    expect(didYouMean('model', agentKeys)).toBeUndefined();
  });

  it('prefers the closest candidate, then the first listed', () => {
    expect(didYouMean('modal', ['medal', 'model', 'modal2'])).toBe('medal');
    expect(didYouMean('abcd', ['abce', 'abcf'])).toBe('abce');
    expect(didYouMean('mdoel', ['models', 'model'])).toBe('model');
  });
});
