import { readFile } from 'node:fs/promises';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_SCHEMA_ID, configJsonSchema } from './json-schema.ts';

const fixture = await readFile(new URL('../../test/fixtures/councils.yaml', import.meta.url), 'utf8');

function compile() {
  // The schema uses `format: uri`; format checks need ajv-formats, which the loader does not need either.
  // `type: [string, number, boolean]` (knowledge meta values) is valid 2020-12; ajv's strict mode wants it allowed explicitly.
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, validateFormats: false });
  return ajv.compile(configJsonSchema());
}

describe('configJsonSchema', () => {
  it('is a draft 2020-12 schema with id, title and descriptions', () => {
    const schema = configJsonSchema();
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.$id).toBe(CONFIG_SCHEMA_ID);
    expect(schema.$id).toBe('https://forge-harness.dev/schema/forge-config.json');
    expect(schema.title).toEqual(expect.any(String));
    expect(schema.additionalProperties).toBe(false);
    const text = JSON.stringify(schema);
    expect(text).toContain('A model id from `models:`.');
    expect(text).toContain('USD per million tokens.');
  });

  it('returns a fresh object on every call', () => {
    const first = configJsonSchema();
    first.title = 'changed';
    expect(configJsonSchema().title).not.toBe('changed');
  });

  it('accepts the example configs', () => {
    const validate = compile();
    const examples: unknown[] = [
      parse(fixture),
      { councils: [{ name: 'C', agents: [{ name: 'A', model: 'm' }] }] },
      {
        version: 1,
        models: [
          { id: 'sim', type: 'simulated', latency_ms: 0, rules: [{ when: 'hi', reply: 'hello' }] },
          { id: 'p', type: 'openai-compatible', endpoint: 'http://x/v1', headers: { 'X-Key': 'v' } },
        ],
        councils: [
          {
            name: 'C',
            strategy: 'pipeline',
            recursion: { max_depth: 1, trigger_on: ['confidence < 0.6'], fallback: 'Fail' },
            knowledge: ['text', { text: 'more', meta: { page: 1 } }],
            agents: [{ name: 'A', model: 'sim', temperature: 0.5, max_tokens: 10 }],
          },
        ],
        telemetry: { exporter: 'console' },
      },
    ];
    for (const example of examples) {
      const ok = validate(example);
      expect(validate.errors ?? []).toEqual([]);
      expect(ok).toBe(true);
    }
  });

  it.each([
    [
      'an unknown key',
      { councils: [{ name: 'C', agents: [{ name: 'A', modle: 'm' }] }] },
      'additionalProperties',
    ],
    ['a wrong type', { models: [{ id: 'x', type: 'openai', context_window: 'big' }] }, 'type'],
    [
      'a fraction where a whole number belongs',
      { councils: [{ name: 'C', recursion_depth: 1.5, agents: [] }] },
      'type',
    ],
    ['an unknown enum value', { models: [{ id: 'x', type: 'gogle' }] }, 'enum'],
    ['a council without agents', { councils: [{ name: 'C', agents: [] }] }, 'minItems'],
    ['a missing required key', { councils: [{ name: 'C', agents: [{ name: 'A' }] }] }, 'required'],
    ['version 2', { version: 2 }, 'const'],
  ])('rejects %s', (_name, config, keyword) => {
    const validate = compile();
    expect(validate(config)).toBe(false);
    expect(validate.errors?.map((error) => error.keyword)).toContain(keyword);
  });
});
