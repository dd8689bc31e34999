import { describe, expect, it } from 'vitest';
import { extractConfidence, selfRatingInstruction } from './confidence.ts';
import { parseTrigger } from './trigger-expr.ts';

describe('extractConfidence: self_rating', () => {
  it.each([
    ['Paris.\nConfidence: 0.8', 0.8],
    ['Paris.\nconfidence=0.8', 0.8],
    ['Paris.\nCONFIDENCE : 80%', 0.8],
    ['Paris.\nConfidence: 80 %', 0.8],
    ['Paris.\nConfidence: 80', 0.8],
    ['Paris.\nConfidence: .25', 0.25],
    ['Paris.\nConfidence: 1', 1],
    ['Paris.\nConfidence: 0', 0],
    ['Paris.\n**Confidence:** 0.7', 0.7],
    ['Paris.\n- Confidence: 0.7.', 0.7],
    ['Paris.\nConfidence: 0.9\n\n  \n', 0.9],
    ['Paris.\r\nConfidence: 0.9\r\n', 0.9],
  ])('%j → %d, without the rating line', (text, confidence) => {
    expect(extractConfidence(text, 'self_rating')).toEqual({ output: 'Paris.', confidence });
  });

  it('clamps to 0..1', () => {
    expect(extractConfidence('a\nConfidence: 150%', 'self_rating').confidence).toBe(1);
    expect(extractConfidence('a\nConfidence: 250', 'self_rating').confidence).toBe(1);
    expect(extractConfidence('a\nConfidence: -0.3', 'self_rating').confidence).toBe(0);
  });

  it('keeps the lines before the rating as they are', () => {
    expect(extractConfidence('Line 1\n\n  Line 2\nConfidence: 0.5', 'self_rating')).toEqual({
      output: 'Line 1\n\n  Line 2',
      confidence: 0.5,
    });
    expect(extractConfidence('Confidence: 0.5', 'self_rating')).toEqual({ output: '', confidence: 0.5 });
  });

  it.each([
    'Paris.',
    '',
    'Confidence: 0.8\nParis is the capital.',
    'Paris.\nMy confidence: high',
    'Paris.\nConfidence: 0.8 because the atlas says so',
    'Paris.\nConfidence level is 0.8',
  ])('leaves %j alone without a last rating line', (text) => {
    expect(extractConfidence(text, 'self_rating')).toEqual({ output: text });
  });
});

describe('extractConfidence: structured', () => {
  it.each([
    ['{"answer": "Paris", "confidence": 0.8}', 0.8],
    ['  {"answer": "Paris", "confidence": 1}\n', 1],
    ['{"confidence": 80}', 0.8],
    ['{"confidence": 100}', 1],
    ['{"confidence": 0}', 0],
    ['{"confidence": 250}', 1],
    ['{"confidence": -1}', 0],
    ['Here you go:\n```json\n{"answer": "Paris", "confidence": 0.35}\n```\n', 0.35],
    ['```JSON\n{"confidence": 65}\n```', 0.65],
    ['```\n{"confidence": 0.5}\n```', 0.5],
    ['```ts\nconst x = 1;\n```\n```json\n{"confidence": 0.4}\n```', 0.4],
  ])('%j → %d, output unchanged', (text, confidence) => {
    expect(extractConfidence(text, 'structured')).toEqual({ output: text, confidence });
  });

  it.each([
    'Paris.',
    '{"answer": "Paris"}',
    '{"confidence": "high"}',
    '{"confidence": "0.8"}',
    '{"result": {"confidence": 0.8}}',
    '[{"confidence": 0.8}]',
    '{"confidence": 0.8',
    'null',
    '```json\nnot json\n```',
  ])('reads no confidence from %j', (text) => {
    expect(extractConfidence(text, 'structured')).toEqual({ output: text });
  });

  it('does not read a self-rating line', () => {
    expect(extractConfidence('Paris.\nConfidence: 0.8', 'structured')).toEqual({
      output: 'Paris.\nConfidence: 0.8',
    });
  });
});

describe('selfRatingInstruction', () => {
  it('asks for the line extractConfidence reads', () => {
    const example = /`(Confidence: [^`]+)`/.exec(selfRatingInstruction)?.[1];
    expect(example).toBeDefined();
    expect(extractConfidence(`Paris.\n${example}`, 'self_rating')).toEqual({
      output: 'Paris.',
      confidence: 0.8,
    });
  });

  it('feeds trigger_on', () => {
    const { confidence } = extractConfidence('Maybe Lyon.\nConfidence: 40%', 'self_rating');
    const trigger = parseTrigger('confidence < 0.6');
    expect(trigger.test(confidence === undefined ? {} : { confidence })).toBe(true);
    expect(trigger.test({})).toBe(false);
  });
});
