import { describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { parsePrompt, toPointer } from './parse.ts';
import { closestMatch, editDistance } from './suggest.ts';

const PNG_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

/** Runs parsePrompt and returns the HarnessError it throws; fails the test if it does not throw one. */
function failure(input: unknown): HarnessError {
  try {
    parsePrompt(input);
  } catch (error) {
    if (HarnessError.isInstance(error)) return error;
    throw error;
  }
  throw new Error(`parsePrompt accepted ${JSON.stringify(input)}`);
}

describe('parsePrompt: valid prompts', () => {
  it('accepts the seed example of the spec unchanged', () => {
    const seed = {
      role: 'user',
      content: [
        { type: 'system', value: 'You are a support agent.' },
        { type: 'user', value: 'Where is my order #12345?' },
      ],
    };
    expect(parsePrompt(seed)).toEqual([seed]);
  });

  it('normalises a plain string to one user message', () => {
    expect(parsePrompt('hi')).toEqual([{ role: 'user', content: 'hi' }]);
    expect(parsePrompt('')).toEqual([{ role: 'user', content: '' }]);
  });

  it('keeps a conversation as it is', () => {
    const conversation = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: [{ type: 'assistant', value: 'Hello!' }] },
      { role: 'user', content: [{ type: 'text', value: 'Bye' }] },
    ];
    expect(parsePrompt(conversation)).toEqual(conversation);
  });

  it('accepts images as https URL, data URL and base64 with media_type', () => {
    const message = {
      role: 'user',
      content: [
        { type: 'image', value: 'https://example.com/cat.png' },
        { type: 'image', value: 'http://example.com/cat.jpg', media_type: 'image/jpeg' },
        { type: 'image', value: `data:image/png;base64,${PNG_BASE64}` },
        { type: 'image', value: PNG_BASE64, media_type: 'image/png' },
      ],
    };
    expect(parsePrompt(message)).toEqual([message]);
  });

  it('accepts assistant text between a tool call and its result', () => {
    const prompt = [
      { role: 'assistant', content: [{ type: 'tool_call', id: 'c1', name: 'f', args: {} }] },
      { role: 'assistant', content: 'Working on it.' },
      { role: 'tool', content: [{ type: 'tool_result', tool_call_id: 'c1', name: 'f', value: 1 }] },
      { role: 'user', content: 'Thanks' },
    ];
    expect(parsePrompt(prompt)).toEqual(prompt);
  });

  it('accepts tool calls and results with any JSON result', () => {
    const prompt = [
      { role: 'assistant', content: [{ type: 'tool_call', id: 'c1', name: 'lookup', args: { id: 12345 } }] },
      {
        role: 'tool',
        content: [
          {
            type: 'tool_result',
            tool_call_id: 'c1',
            name: 'lookup',
            value: { status: 'shipped', eta: null },
          },
          { type: 'tool_result', tool_call_id: 'c2', name: 'ping', value: 'pong' },
          { type: 'tool_result', tool_call_id: 'c3', name: 'sum', value: [1, 2.5, true] },
        ],
      },
    ];
    expect(parsePrompt(prompt)).toEqual(prompt);
  });
});

describe('parsePrompt: invalid prompts', () => {
  const cases: Array<{ name: string; input: unknown; path: string; message: RegExp; hint: RegExp }> = [
    {
      name: 'a misspelt part type, with a did-you-mean',
      input: [
        {
          role: 'user',
          content: [
            { type: 'system', value: 's' },
            { type: 'usr', value: 'x' },
          ],
        },
      ],
      path: '/0/content/1/type',
      message:
        /expected a part type \(system, user, assistant, text, image, tool_call, tool_result\), found "usr"/,
      hint: /did you mean "user"\? use one of the part types: system, user, assistant, text, image, tool_call, tool_result/,
    },
    {
      name: 'a part type in another spelling',
      input: { role: 'assistant', content: [{ type: 'tool-call', id: 'a', name: 'n', args: {} }] },
      path: '/content/0/type',
      message: /found "tool-call"/,
      hint: /did you mean "tool_call"\?/,
    },
    {
      name: 'an unknown part type far from any',
      input: { role: 'user', content: [{ type: 'video', value: 'x' }] },
      path: '/content/0/type',
      message: /found "video"/,
      hint: /^use one of the part types/,
    },
    {
      name: 'a part without type',
      input: { role: 'user', content: [{ value: 'x' }] },
      path: '/content/0/type',
      message: /missing required field "type"/,
      hint: /part types: system, user/,
    },
    {
      name: 'a part that is not an object',
      input: { role: 'user', content: ['hello'] },
      path: '/content/0',
      message: /expected a part object, found "hello"/,
      hint: /\{ "type": "user", "value": "\.\.\." \}/,
    },
    {
      name: 'a misspelt field, with a did-you-mean',
      input: [{ role: 'user', content: [{ type: 'user', valeu: 'x' }] }],
      path: '/0/content/0/valeu',
      message: /unknown field "valeu"/,
      hint: /did you mean "value"\? allowed fields here: type, value/,
    },
    {
      name: 'an extra field',
      input: { role: 'user', content: [{ type: 'user', value: 'x', extra: 1 }] },
      path: '/content/0/extra',
      message: /unknown field "extra"/,
      hint: /allowed fields here: type, value/,
    },
    {
      name: 'an extra message field',
      input: { role: 'user', content: 'x', name: 'bob' },
      path: '/name',
      message: /unknown field "name"/,
      hint: /allowed fields here: role, content/,
    },
    {
      name: 'a value of the wrong type',
      input: { role: 'user', content: [{ type: 'user', value: 3 }] },
      path: '/content/0/value',
      message: /expected a string, found the number 3/,
      hint: /set "value" to a string/,
    },
    {
      name: 'a missing value',
      input: { role: 'user', content: [{ type: 'assistant' }] },
      path: '/content/0/value',
      message: /missing required field "value"/,
      hint: /value/,
    },
    {
      name: 'a misspelt role',
      input: [
        { role: 'user', content: 'a' },
        { role: 'asistant', content: 'b' },
      ],
      path: '/1/role',
      message: /expected a role \(system, user, assistant, tool\), found "asistant"/,
      hint: /did you mean "assistant"\?/,
    },
    {
      name: 'a missing role',
      input: { content: 'x' },
      path: '/role',
      message: /missing required field "role"/,
      hint: /system, user, assistant, tool/,
    },
    {
      name: 'a misspelt role key',
      input: { rol: 'user', content: 'x' },
      path: '/rol',
      message: /unknown field "rol"/,
      hint: /did you mean "role"\?/,
    },
    {
      name: 'content of the wrong type',
      input: { role: 'user', content: 5 },
      path: '/content',
      message: /expected a string or an array, found the number 5/,
      hint: /content is a string, or a list of parts/,
    },
    {
      name: 'missing content',
      input: [{ role: 'user' }],
      path: '/0/content',
      message: /missing required field "content"/,
      hint: /content is a string/,
    },
    {
      name: 'empty content',
      input: { role: 'user', content: [] },
      path: '/content',
      message: /expected at least one part, found an empty array/,
      hint: /add a part/,
    },
    {
      name: 'an empty conversation',
      input: [],
      path: '',
      message: /expected at least one message/,
      hint: /add a message/,
    },
    {
      name: 'a message that is not an object',
      input: [{ role: 'user', content: 'a' }, 7],
      path: '/1',
      message: /expected a message object, found the number 7/,
      hint: /"role": "user"/,
    },
    {
      name: 'a number as the prompt',
      input: 42,
      path: '',
      message:
        /^invalid prompt: expected a prompt \(a string, a message object or an array of messages\), found the number 42/,
      hint: /"role": "user"/,
    },
    { name: 'null as the prompt', input: null, path: '', message: /found null/, hint: /send/ },
    { name: 'undefined as the prompt', input: undefined, path: '', message: /found undefined/, hint: /send/ },
    {
      name: 'an image with another URL scheme',
      input: { role: 'user', content: [{ type: 'image', value: 'ftp://example.com/a.png' }] },
      path: '/content/0/value',
      message: /expected an http\(s\) URL, a base64 data URL .* found "ftp:\/\/example.com\/a.png"/,
      hint: /https:\/\//,
    },
    {
      name: 'an image data URL that is not base64',
      input: { role: 'user', content: [{ type: 'image', value: 'data:image/svg+xml,<svg/>' }] },
      path: '/content/0/value',
      message: /expected an http\(s\) URL/,
      hint: /data:image\/png;base64/,
    },
    {
      name: 'an image that is neither URL nor base64',
      input: { role: 'user', content: [{ type: 'image', value: 'a picture of a cat' }] },
      path: '/content/0/value',
      message: /found "a picture of a cat"/,
      hint: /media_type/,
    },
    {
      name: 'base64 without media_type',
      input: { role: 'user', content: [{ type: 'image', value: PNG_BASE64 }] },
      path: '/content/0/media_type',
      message: /expected a media_type next to bare base64 image data, found nothing/,
      hint: /"media_type": "image\/png"/,
    },
    {
      name: 'a media_type that is not an image type',
      input: { role: 'user', content: [{ type: 'image', value: PNG_BASE64, media_type: 'png' }] },
      path: '/content/0/media_type',
      message: /expected an image media type such as image\/png, found "png"/,
      hint: /image\/jpeg/,
    },
    {
      name: 'tool call args that are not an object',
      input: { role: 'assistant', content: [{ type: 'tool_call', id: 'c1', name: 'f', args: '{"a":1}' }] },
      path: '/content/0/args',
      message: /expected an object, found "\{\\"a\\":1\}"/,
      hint: /JSON object/,
    },
    {
      name: 'tool call args holding a non-JSON value',
      input: {
        role: 'assistant',
        content: [{ type: 'tool_call', id: 'c1', name: 'f', args: { n: Number.NaN } }],
      },
      path: '/content/0/args/n',
      message: /expected a JSON value .* found NaN/,
      hint: /JSON value/,
    },
    {
      name: 'a tool call with an empty id',
      input: { role: 'assistant', content: [{ type: 'tool_call', id: '', name: 'f', args: {} }] },
      path: '/content/0/id',
      message: /expected a non-empty string, found an empty string ""/,
      hint: /"id"/,
    },
    {
      name: 'a tool result without its call id',
      input: { role: 'tool', content: [{ type: 'tool_result', name: 'f', value: 1 }] },
      path: '/content/0/tool_call_id',
      message: /missing required field "tool_call_id"/,
      hint: /tool_call_id/,
    },
    {
      name: 'a tool result with a misspelt call id key',
      input: { role: 'tool', content: [{ type: 'tool_result', tool_call_ID: 'c', name: 'f', value: 1 }] },
      path: '/content/0/tool_call_ID',
      message: /unknown field "tool_call_ID"/,
      hint: /did you mean "tool_call_id"\? allowed fields here: type, tool_call_id, name, value/,
    },
    {
      name: 'a tool message with string content',
      input: { role: 'tool', content: 'done' },
      path: '/content',
      message: /expected a list of tool_result parts in a tool message, found "done"/,
      hint: /tool_result/,
    },
    {
      name: 'a text part in a tool message',
      input: [
        {
          role: 'tool',
          content: [
            { type: 'tool_result', tool_call_id: 'c', name: 'f', value: 1 },
            { type: 'text', value: 'x' },
          ],
        },
      ],
      path: '/0/content/1/type',
      message: /in a tool message, found "text"/,
      hint: /tool_result/,
    },
    {
      name: 'an image in a system message',
      input: { role: 'system', content: [{ type: 'image', value: 'https://example.com/a.png' }] },
      path: '/content/0/type',
      message: /expected no image part in a system message, found "image"/,
      hint: /user message/,
    },
    {
      name: 'a tool call never answered',
      input: [
        { role: 'user', content: 'Where is my order?' },
        { role: 'assistant', content: [{ type: 'tool_call', id: 'call_1', name: 'lookup', args: {} }] },
      ],
      path: '/1/content/0/id',
      message:
        /expected a tool_result with tool_call_id "call_1" before the next user turn or the end of the prompt/,
      hint: /"tool_call_id": "call_1"/,
    },
    {
      name: 'a tool call answered only after the next user turn',
      input: {
        role: 'user',
        content: [
          { type: 'tool_call', id: 'call_9', name: 'lookup', args: {} },
          { type: 'user', value: 'Any news?' },
          { type: 'tool_result', tool_call_id: 'call_9', name: 'lookup', value: 'none' },
        ],
      },
      path: '/content/0/id',
      message: /tool_call_id "call_9"/,
      hint: /after the call/,
    },
    {
      name: 'a key that needs JSON pointer escaping',
      input: { role: 'user', content: [{ type: 'user', value: 'x', 'a/b~c': 1 }] },
      path: '/content/0/a~1b~0c',
      message: /unknown field "a\/b~c"/,
      hint: /allowed fields/,
    },
  ];

  for (const testCase of cases) {
    it(`rejects ${testCase.name}`, () => {
      const error = failure(testCase.input);
      expect(error.code).toBe('prompt_invalid');
      expect(error.location?.path).toBe(testCase.path);
      expect(error.message).toMatch(testCase.message);
      expect(error.message).toContain(testCase.path === '' ? 'invalid prompt:' : `at ${testCase.path}:`);
      expect(error.hint).toMatch(testCase.hint);
      expect(error.isRetryable).toBe(false);
    });
  }

  it('rejects a cycle, pointing at the property that closes it', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const error = failure([
      { role: 'assistant', content: [{ type: 'tool_call', id: 'c', name: 'f', args: cyclic }] },
    ]);
    expect(error.code).toBe('prompt_invalid');
    expect(error.location?.path).toBe('/0/content/0/args/self');
    expect(error.message).toMatch(/a cycle/);
  });

  it('accepts the same object referenced twice (no cycle)', () => {
    const shared = { id: 1 };
    const prompt = {
      role: 'assistant',
      content: [
        { type: 'tool_call', id: 'c', name: 'f', args: { a: shared, b: shared } },
        { type: 'tool_result', tool_call_id: 'c', name: 'f', value: [shared, shared] },
      ],
    };
    expect(parsePrompt(prompt)).toHaveLength(1);
  });

  it('turns input too deep to read into prompt_invalid', () => {
    let deep: Record<string, unknown> = {};
    const args = deep;
    for (let depth = 0; depth < 200_000; depth++) {
      const next = {};
      deep.a = next;
      deep = next;
    }
    const error = failure({ role: 'assistant', content: [{ type: 'tool_call', id: 'c', name: 'f', args }] });
    expect(error.code).toBe('prompt_invalid');
    expect(error.location?.path).toBe('');
  });

  it('names the location in the formatted error', () => {
    expect(failure({ role: 'user', content: [{ type: 'usr', value: 'x' }] }).format()).toMatch(
      /^\/content\/0\/type: invalid prompt at \/content\/0\/type: .*\n {2}hint: did you mean "user"\?/,
    );
  });
});

describe('toPointer', () => {
  it('escapes ~ and / per RFC 6901', () => {
    expect(toPointer([])).toBe('');
    expect(toPointer([0, 'content', 1, 'type'])).toBe('/0/content/1/type');
    expect(toPointer(['a/b', 'c~d'])).toBe('/a~1b/c~0d');
  });
});

describe('did-you-mean', () => {
  it('counts insertions, deletions, substitutions and adjacent swaps as one edit', () => {
    expect(editDistance('user', 'user')).toBe(0);
    expect(editDistance('usr', 'user')).toBe(1);
    expect(editDistance('users', 'user')).toBe(1);
    expect(editDistance('usex', 'user')).toBe(1);
    expect(editDistance('valeu', 'value')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('suggests only close candidates, ignoring case', () => {
    expect(closestMatch('User', ['system', 'user'])).toBe('user');
    expect(closestMatch('tool-result', ['tool_call', 'tool_result'])).toBe('tool_result');
    expect(closestMatch('foo', ['system', 'user'])).toBeUndefined();
    expect(closestMatch('', ['user'])).toBeUndefined();
  });
});
