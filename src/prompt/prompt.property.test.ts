/**
 * Property tests of the parse → convert path: whatever arrives, parsePrompt either returns or
 * throws `prompt_invalid` pointing into the input, and what it returns always converts into
 * messages the AI SDK accepts.
 */
import type { LanguageModelV4GenerateResult } from '@ai-sdk/provider';
import { generateText, modelMessageSchema } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { parsePrompt } from './parse.ts';
import { unifiedPromptSchema } from './schema.ts';
import { toModelMessages } from './to-model-messages.ts';
import { tokenUpperBound } from './tokens.ts';

const SEED = 424_242;
const PNG_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

const text = fc.string({ maxLength: 30 });
const id = fc.string({ minLength: 1, maxLength: 8 });
const jsonObject = fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });

const textPart = fc.record({ type: fc.constantFrom('system', 'user', 'assistant', 'text'), value: text });
const imagePart = fc.oneof(
  fc.record({ type: fc.constant('image'), value: fc.webUrl() }),
  fc.record({ type: fc.constant('image'), value: fc.constant(`data:image/png;base64,${PNG_BASE64}`) }),
  fc.record({
    type: fc.constant('image'),
    value: fc.constant(PNG_BASE64),
    media_type: fc.constantFrom('image/png', 'image/jpeg', 'image/webp'),
  }),
);
const toolCallPart = fc.record({ type: fc.constant('tool_call'), id, name: id, args: jsonObject });
const toolResultPart = fc.record({
  type: fc.constant('tool_result'),
  tool_call_id: id,
  name: id,
  value: fc.jsonValue({ maxDepth: 2 }),
});
const anyPart = fc.oneof(textPart, imagePart, toolCallPart, toolResultPart);

/** Valid messages: roles only hold parts they may hold. */
const validMessage = fc.oneof(
  fc.record({ role: fc.constantFrom('system', 'user', 'assistant'), content: text }),
  fc.record({
    role: fc.constantFrom('user', 'assistant'),
    content: fc.array(anyPart, { minLength: 1, maxLength: 5 }),
  }),
  fc.record({
    role: fc.constant('system'),
    content: fc.array(fc.oneof(textPart, toolCallPart, toolResultPart), { minLength: 1, maxLength: 4 }),
  }),
  fc.record({
    role: fc.constant('tool'),
    content: fc.array(
      fc.oneof(
        toolResultPart,
        toolCallPart,
        fc.record({ type: fc.constantFrom('user', 'assistant'), value: text }),
      ),
      {
        minLength: 1,
        maxLength: 4,
      },
    ),
  }),
);
/** Answers every tool call right after it, as the AI SDK requires. */
function answerToolCalls<T>(message: T): T {
  const { content } = message as { content: unknown };
  if (!Array.isArray(content)) return message;
  const answered = content.flatMap((part: { type: string; id?: string; name?: string }) =>
    part.type === 'tool_call'
      ? [part, { type: 'tool_result', tool_call_id: part.id, name: part.name, value: null }]
      : [part],
  );
  return { ...message, content: answered };
}

const answeredMessage = validMessage.map(answerToolCalls);
const validPrompt = fc.oneof(
  text,
  answeredMessage,
  fc.array(answeredMessage, { minLength: 1, maxLength: 4 }),
);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface Mutation {
  at: number;
  kind: 'delete' | 'rename' | 'replace' | 'retype' | 'extra' | 'wrap';
  value: Json;
  word: string;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('delete', 'rename', 'replace', 'retype', 'extra', 'wrap'),
  value: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  word: fc.constantFrom(
    'usr',
    'User',
    'tool-call',
    'tool_results',
    'img',
    'valeu',
    'rol',
    'contents',
    '',
    'tool',
    'image',
  ),
});

/** Every container (object or array) of a JSON tree, depth first. */
function containers(root: Json): Array<Json[] | { [key: string]: Json }> {
  if (root === null || typeof root !== 'object') return [];
  const children = Array.isArray(root) ? root : Object.values(root);
  return [root, ...children.flatMap(containers)];
}

/** Applies one small, typo-like change somewhere in the tree (in place on a copy). */
function mutate(prompt: Json, change: Mutation): Json {
  const root = structuredClone(prompt);
  const all = containers(root);
  const target = all[change.at % Math.max(all.length, 1)];
  if (target === undefined) return change.kind === 'wrap' ? [root] : change.value;
  const keys = Array.isArray(target) ? target.map((_, index) => index) : Object.keys(target);
  const key = keys[change.at % Math.max(keys.length, 1)];
  const record = target as Record<string | number, Json>;
  switch (change.kind) {
    case 'delete':
      if (key === undefined) break;
      if (Array.isArray(target)) target.splice(Number(key), 1);
      else delete record[key];
      break;
    case 'rename':
      if (key === undefined || Array.isArray(target)) break;
      record[`${String(key).slice(1)}${String(key)[0] ?? ''}`] = record[key] ?? null;
      delete record[key];
      break;
    case 'replace':
      if (key !== undefined) record[key] = change.value;
      break;
    case 'retype':
      if (!Array.isArray(target)) record['type' in target ? 'type' : 'role'] = change.word;
      break;
    case 'extra':
      if (Array.isArray(target)) target.push(change.value);
      else record[change.word || 'extra'] = change.value;
      break;
    case 'wrap':
      if (key !== undefined) record[key] = [record[key] ?? null];
      break;
  }
  return root;
}

const nearValidPrompt = fc
  .tuple(validPrompt as fc.Arbitrary<Json>, fc.array(mutation, { minLength: 1, maxLength: 3 }))
  .map(([prompt, changes]) => changes.reduce(mutate, prompt));

/** Resolves an RFC 6901 pointer; `undefined` when some step is missing. */
function resolve(root: unknown, pointer: string): { found: boolean; value: unknown } {
  if (pointer === '') return { found: true, value: root };
  let current: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, key)) {
      return { found: false, value: undefined };
    }
    current = (current as Record<string, unknown>)[key];
  }
  return { found: true, value: current };
}

/** The property every input must satisfy; returns whether it parsed. */
function checkInput(input: unknown): boolean {
  let messages: ReturnType<typeof parsePrompt>;
  try {
    messages = parsePrompt(input);
  } catch (error) {
    expect(HarnessError.isInstance(error)).toBe(true);
    const harnessError = error as HarnessError;
    expect(harnessError.code).toBe('prompt_invalid');
    expect(harnessError.hint).toBeTruthy();
    // The pointer names a place in the input: its parent exists (the field itself may be missing).
    const pointer = harnessError.location?.path ?? '';
    expect(pointer === '' || pointer.startsWith('/')).toBe(true);
    const parent = pointer.slice(0, Math.max(0, pointer.lastIndexOf('/')));
    expect(resolve(input, parent).found).toBe(true);
    expect(harnessError.message).toContain(
      pointer === '' ? 'invalid prompt:' : `invalid prompt at ${pointer}:`,
    );
    // Our reading agrees with the schema it is built on.
    expect(safeSchemaSuccess(input)).toBe(false);
    return false;
  }
  if (typeof input !== 'string') expect(safeSchemaSuccess(input)).toBe(true);
  const converted = toModelMessages(messages);
  for (const message of converted.messages) {
    expect(message.role).not.toBe('system');
    expect(modelMessageSchema.safeParse(message).success).toBe(true);
  }
  expect(tokenUpperBound(converted)).toBeGreaterThanOrEqual(0);
  return true;
}

function safeSchemaSuccess(input: unknown): boolean {
  try {
    return unifiedPromptSchema.safeParse(input).success;
  } catch {
    return false;
  }
}

describe('parsePrompt / toModelMessages properties', () => {
  it('valid prompts parse and convert into messages the AI SDK accepts', () => {
    fc.assert(
      fc.property(validPrompt, (prompt) => {
        expect(checkInput(prompt)).toBe(true);
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });

  it('generateText accepts every converted valid prompt and the model receives every message', async () => {
    const reply: LanguageModelV4GenerateResult = {
      content: [{ type: 'text', text: 'ok' }],
      finishReason: { unified: 'stop', raw: undefined },
      usage: {
        inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
        outputTokens: { total: 1, text: 1, reasoning: 0 },
      },
      warnings: [],
    };
    await fc.assert(
      fc.asyncProperty(validPrompt, async (prompt) => {
        const { system, messages } = toModelMessages(parsePrompt(prompt));
        // A prompt of system text only has no message; generateText needs one.
        fc.pre(messages.length > 0);
        // The mock claims every http(s) image URL, so nothing is downloaded.
        const model = new MockLanguageModelV4({
          supportedUrls: { '*': [/^https?:\/\//] },
          doGenerate: reply,
        });
        await generateText({ model, messages, ...(system === undefined ? {} : { instructions: system }) });
        const sent = model.doGenerateCalls[0]?.prompt ?? [];
        // The SDK joins adjacent tool messages into one; every other message arrives as it is.
        const roles = messages
          .map((message) => message.role)
          .filter((role, i, all) => role !== 'tool' || all[i - 1] !== 'tool');
        expect(sent.map((message) => message.role)).toEqual([
          ...(system === undefined ? [] : ['system']),
          ...roles,
        ]);
        // …and so does every part, except empty text parts, which the SDK drops.
        const parts = (list: readonly { content: unknown }[]) =>
          list
            .flatMap((message) =>
              Array.isArray(message.content) ? message.content : [{ type: 'text', text: message.content }],
            )
            .filter((part: { type?: string; text?: string }) => part.type !== 'text' || part.text !== '')
            .length;
        expect(parts(sent)).toBe(parts(messages) + (system === undefined ? 0 : 1));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('random JSON values either parse or fail with prompt_invalid', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        checkInput(value);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('near-valid prompts either parse or fail with prompt_invalid pointing into the input', () => {
    const outcomes = { parsed: 0, rejected: 0 };
    fc.assert(
      fc.property(nearValidPrompt, (prompt) => {
        outcomes[checkInput(prompt) ? 'parsed' : 'rejected']++;
      }),
      { seed: SEED, numRuns: 3000 },
    );
    // The mutations must exercise both outcomes, or the property says little.
    expect(outcomes.parsed).toBeGreaterThan(300);
    expect(outcomes.rejected).toBeGreaterThan(1000);
  });

  it('arbitrary JavaScript values never escape as anything but prompt_invalid', () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withMap: true, withSet: true }), (value) => {
        checkInput(value);
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });
});
