// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests write ${VAR} references in YAML.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { formatYamlPath, loadConfigFile, parseConfig } from './load.ts';

const fixturePath = new URL('../../test/fixtures/councils.yaml', import.meta.url).pathname;

/** The valid example of the product spec; line numbers in the tests below refer to it. */
const valid = `models:
  - id: gpt-4o
    type: openai
    api_key: env:OPENAI_API_KEY
    context_window: 128000
    price_per_mtok: { input: 2.5, output: 10 }
    capabilities: [tools, vision, json, streaming]
    latency_threshold_ms: 8000
  - id: claude-3-5-sonnet
    type: anthropic
    model: claude-3-5-sonnet-latest
    api_key: env:ANTHROPIC_API_KEY
    context_window: 200000
    price_per_mtok: { input: 3, output: 15 }
    capabilities: [tools, vision, json, streaming]
  - id: gemini-1.5-pro
    type: google
    api_key: env:GOOGLE_GENERATIVE_AI_API_KEY
    context_window: 1000000
  - id: llama-3-8b
    type: local
    endpoint: http://localhost:11434/v1
    model: llama3:8b
  - id: llama-3-70b
    type: local
    path: /models/llama-3-70b-instruct.Q4_K_M.gguf
councils:
  - name: CustomerSupport
    memory: sqlite://./data/support.db
    recursion_depth: 2
    agents:
      - name: Triage
        model: gpt-4o
        fallback: [claude-3-5-sonnet, llama-3-8b]
        instructions: Classify the customer's request and extract the facts that matter.
        skills: [NLU]
      - name: Resolver
        model: claude-3-5-sonnet
        instructions: Answer the customer using the knowledge base.
        skills: [Search]
`;

/** `valid` with line `line` (1-based) replaced by `replacement` (which may hold several lines). */
function withLine(line: number, replacement: string): string {
  const lines = valid.split('\n');
  lines.splice(line - 1, 1, replacement);
  return lines.join('\n');
}

/** `valid` with `inserted` placed after line `line`. */
function afterLine(line: number, inserted: string): string {
  const lines = valid.split('\n');
  lines.splice(line, 0, inserted);
  return lines.join('\n');
}

function failure(text: string, options: Parameters<typeof parseConfig>[1] = {}): HarnessError {
  try {
    parseConfig(text, { file: 'councils.yaml', env: {}, ...options });
  } catch (error) {
    if (HarnessError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected parseConfig to throw');
}

describe('parseConfig: the valid example', () => {
  it('maps snake_case YAML to the camelCase specs', () => {
    const config = parseConfig(valid, { file: 'councils.yaml', knownSkills: ['NLU', 'Search'] });
    expect(config.file).toBe('councils.yaml');
    expect(config.telemetry).toBeUndefined();
    expect(config.models).toEqual([
      {
        id: 'gpt-4o',
        type: 'openai',
        apiKey: 'env:OPENAI_API_KEY',
        contextWindow: 128000,
        pricePerMtok: { input: 2.5, output: 10 },
        capabilities: ['tools', 'vision', 'json', 'streaming'],
        latencyThresholdMs: 8000,
      },
      {
        id: 'claude-3-5-sonnet',
        type: 'anthropic',
        model: 'claude-3-5-sonnet-latest',
        apiKey: 'env:ANTHROPIC_API_KEY',
        contextWindow: 200000,
        pricePerMtok: { input: 3, output: 15 },
        capabilities: ['tools', 'vision', 'json', 'streaming'],
      },
      {
        id: 'gemini-1.5-pro',
        type: 'google',
        apiKey: 'env:GOOGLE_GENERATIVE_AI_API_KEY',
        contextWindow: 1000000,
      },
      { id: 'llama-3-8b', type: 'local', endpoint: 'http://localhost:11434/v1', model: 'llama3:8b' },
      { id: 'llama-3-70b', type: 'local', path: '/models/llama-3-70b-instruct.Q4_K_M.gguf' },
    ]);
    expect(config.councils).toEqual([
      {
        name: 'CustomerSupport',
        memory: 'sqlite://./data/support.db',
        recursionDepth: 2,
        agents: [
          {
            name: 'Triage',
            model: 'gpt-4o',
            fallback: ['claude-3-5-sonnet', 'llama-3-8b'],
            instructions: "Classify the customer's request and extract the facts that matter.",
            skills: ['NLU'],
          },
          {
            name: 'Resolver',
            model: 'claude-3-5-sonnet',
            instructions: 'Answer the customer using the knowledge base.',
            skills: ['Search'],
          },
        ],
      },
    ]);
    // Optional fields are absent, not undefined (exactOptionalPropertyTypes callers rely on `in`).
    expect(Object.keys(config.models[2] ?? {})).toEqual(['id', 'type', 'apiKey', 'contextWindow']);
  });

  it('locates paths in the source, also with camelCase keys and for absent keys', () => {
    const config = parseConfig(valid, { file: 'councils.yaml' });
    expect(config.locate(['councils', 0, 'agents', 1, 'model'])).toEqual({
      file: 'councils.yaml',
      path: 'councils[0].agents[1].model',
      line: 38,
      column: 16,
    });
    expect(config.locate(['councils', 0, 'recursionDepth'])).toMatchObject({ line: 30, column: 22 });
    expect(config.locate(['models', 0, 'price_per_mtok', 'output'])).toMatchObject({ line: 6, column: 43 });
    expect(config.locate(['councils', 0, 'agents', 0, 'fallback', 1])).toMatchObject({
      line: 34,
      column: 39,
    });
    // Absent: the deepest existing ancestor (agent 1's map starts at its first key).
    expect(config.locate(['councils', 0, 'agents', 1, 'max_tokens'])).toEqual({
      file: 'councils.yaml',
      path: 'councils[0].agents[1].max_tokens',
      line: 37,
      column: 9,
    });
    expect(config.locate([])).toMatchObject({ path: '', line: 1, column: 1 });
  });

  it('returns empty lists for absent sections and maps telemetry', () => {
    const config = parseConfig(
      'telemetry:\n  exporter: otlp\n  endpoint: http://collector:4318\n  service_name: api\n',
    );
    expect(config.models).toEqual([]);
    expect(config.councils).toEqual([]);
    expect(config.telemetry).toEqual({
      exporter: 'otlp',
      endpoint: 'http://collector:4318',
      serviceName: 'api',
    });
    expect('file' in config).toBe(false);
  });

  it('maps every optional key, and leaves header names as written', () => {
    const text = `version: 1
models:
  - id: sim
    type: simulated
    latency_ms: 5
    rules:
      - when: hello
        reply: "hi {{input}}"
  - id: proxy
    type: openai-compatible
    endpoint: https://proxy.example.com/v1
    api: chat
    max_output_tokens: 4096
    headers:
      X-Api_Version: "2024-01-01"
      x_tenant_id: acme
councils:
  - name: C
    description: A council
    strategy: pipeline
    recursion:
      max_depth: 2
      trigger_on: ["confidence < 0.6"]
      fallback: BestSoFar
    knowledge:
      - plain text
      - { id: doc-1, text: more text, meta: { source: faq, page: 3, public: true } }
    agents:
      - name: A
        model: sim
        max_tokens: 256
        temperature: 0.2
        max_steps: 3
`;
    const config = parseConfig(text);
    expect(config.models).toEqual([
      { id: 'sim', type: 'simulated', latencyMs: 5, rules: [{ when: 'hello', reply: 'hi {{input}}' }] },
      {
        id: 'proxy',
        type: 'openai-compatible',
        endpoint: 'https://proxy.example.com/v1',
        api: 'chat',
        maxOutputTokens: 4096,
        headers: { 'X-Api_Version': '2024-01-01', x_tenant_id: 'acme' },
      },
    ]);
    expect(config.councils).toEqual([
      {
        name: 'C',
        description: 'A council',
        strategy: 'pipeline',
        recursion: { maxDepth: 2, triggerOn: ['confidence < 0.6'], fallback: 'BestSoFar' },
        knowledge: [
          'plain text',
          { id: 'doc-1', text: 'more text', meta: { source: 'faq', page: 3, public: true } },
        ],
        agents: [{ name: 'A', model: 'sim', maxTokens: 256, temperature: 0.2, maxSteps: 3 }],
      },
    ]);
  });

  it('skips model references when the file has no models: section', () => {
    const config = parseConfig(
      'councils:\n  - name: C\n    agents:\n      - name: A\n        model: elsewhere\n',
    );
    expect(config.councils[0]?.agents[0]?.model).toBe('elsewhere');
  });
});

describe('parseConfig: interpolation', () => {
  it('interpolates values before validation, typing plain scalars, and keeps env: references', () => {
    const text = withLine(5, '    context_window: ${CTX:-64000}').replace(
      'endpoint: http://localhost:11434/v1',
      'endpoint: http://${OLLAMA_HOST}/v1',
    );
    const config = parseConfig(text, { env: { OLLAMA_HOST: 'gpu-box:11434' } });
    expect(config.models[0]?.contextWindow).toBe(64000);
    expect(config.models[0]?.apiKey).toBe('env:OPENAI_API_KEY');
    expect(config.models[3]?.endpoint).toBe('http://gpu-box:11434/v1');
  });

  it('turns $${ into a literal ${', () => {
    const text = withLine(39, '        instructions: Reply with $${name} filled in.');
    const config = parseConfig(text, { env: {} });
    expect(config.councils[0]?.agents[1]?.instructions).toBe('Reply with ${name} filled in.');
  });

  it('reports a missing variable with its path, line and column', () => {
    const error = failure(withLine(22, '    endpoint: http://${OLLAMA_HOST}/v1'));
    expect(error.code).toBe('config_invalid');
    expect(error.message).toBe('environment variable OLLAMA_HOST is not set (used in models[3].endpoint)');
    expect(error.hint).toBe('set OLLAMA_HOST or write ${OLLAMA_HOST:-default}');
    expect(error.location).toEqual({
      file: 'councils.yaml',
      path: 'models[3].endpoint',
      line: 22,
      column: 22,
    });
  });

  it('validates the interpolated value', () => {
    const error = failure(withLine(5, '    context_window: ${CTX}'), { env: { CTX: 'lots' } });
    expect(error.message).toBe('expected a whole number, found "lots"');
    expect(error.location).toMatchObject({ path: 'models[0].context_window', line: 5, column: 21 });
  });
});

describe('parseConfig: file-level errors', () => {
  it.each(['', '\n\n', '# only a comment\n', '---\n'])('rejects an empty file (%j)', (text) => {
    const error = failure(text);
    expect(error.code).toBe('config_invalid');
    expect(error.message).toBe('the file is empty; expected `models:` and/or `councils:`');
    expect(error.location).toEqual({ file: 'councils.yaml', path: '', line: 1, column: 1 });
    expect(error.hint).toContain('models:');
  });

  it('reports YAML syntax errors with the library reason, line and column', () => {
    const tab = failure(withLine(30, '\trecursion_depth: 2'));
    expect(tab.code).toBe('config_yaml_syntax');
    expect(tab.message).toBe('invalid YAML: Tabs are not allowed as indentation');
    expect(tab.location).toEqual({ file: 'councils.yaml', path: '', line: 30, column: 1 });
    expect(tab.hint).toBe('indent with spaces, not tabs');
    expect(tab.details).toEqual({ yamlCode: 'TAB_AS_INDENT' });

    const duplicate = failure(afterLine(3, '    type: anthropic'));
    expect(duplicate.code).toBe('config_yaml_syntax');
    expect(duplicate.message).toBe('invalid YAML: Map keys must be unique');
    expect(duplicate.location).toMatchObject({ line: 4, column: 5 });

    const quote = failure(withLine(39, '        instructions: "Answer the customer'));
    expect(quote.code).toBe('config_yaml_syntax');
    expect(quote.message).toBe('invalid YAML: Missing closing "quote');
    expect(quote.location).toMatchObject({ line: 41, column: 1 });

    const flow = failure(withLine(34, '        fallback: [claude-3-5-sonnet, llama-3-8b'));
    expect(flow.code).toBe('config_yaml_syntax');
    expect(flow.location).toMatchObject({ line: 35, column: 9 });

    const twoDocs = failure(`${valid}---\nmodels: []\n`);
    expect(twoDocs.code).toBe('config_yaml_syntax');
    expect(twoDocs.hint).toContain('one YAML document');
  });

  it('rejects a top level that is not a mapping', () => {
    const error = failure('- models\n- councils\n');
    expect(error.code).toBe('config_invalid');
    expect(error.message).toBe('expected a mapping, found a list of 2 items');
    expect(error.location).toEqual({ file: 'councils.yaml', path: '', line: 1, column: 1 });
    expect(error.hint).toContain('`models:` and/or `councils:`');
  });

  it('rejects alias bombs instead of expanding them', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
    ].join('\n');
    const error = failure(bomb);
    expect(error.code).toBe('config_yaml_syntax');
  });
});

describe('parseConfig: schema errors', () => {
  it('reports a wrong type at the value, with expected and found', () => {
    const error = failure(afterLine(38, '        max_tokens: three'));
    expect(error).toBeInstanceOf(HarnessError);
    expect(error.code).toBe('config_invalid');
    expect(error.message).toBe('expected a whole number, found "three"');
    expect(error.location).toEqual({
      file: 'councils.yaml',
      path: 'councils[0].agents[1].max_tokens',
      line: 39,
      column: 21,
    });
    expect(error.hint).toBe('write a whole number for max_tokens');
    expect(error.details.issues).toEqual([
      {
        code: 'invalid_type',
        path: 'councils[0].agents[1].max_tokens',
        line: 39,
        column: 21,
        message: 'expected a whole number, found "three"',
        hint: 'write a whole number for max_tokens',
      },
    ]);
  });

  it('says to drop quotes around a number, and to round a fraction', () => {
    const quoted = failure(afterLine(38, '        max_tokens: "512"'));
    expect(quoted.message).toBe('expected a whole number, found "512"');
    expect(quoted.hint).toBe('write the number without quotes');
    const fraction = failure(afterLine(38, '        max_tokens: 1.5'));
    expect(fraction.message).toBe('expected a whole number, found 1.5');
    expect(fraction.hint).toBe('use a whole number such as 2');
  });

  it('reports an empty value and a scalar where a list belongs', () => {
    const empty = failure(withLine(33, '        model:'));
    expect(empty.message).toBe('expected a string, found an empty value');
    expect(empty.hint).toBe('write a value after "model:"');
    const optional = failure(withLine(29, '    memory:'));
    expect(optional.message).toBe('expected a string, found an empty value');
    expect(optional.hint).toBe('write a value after "memory:" or remove the key');
    expect(empty.location).toMatchObject({ path: 'councils[0].agents[0].model', line: 33, column: 15 });
    const scalar = failure(withLine(36, '        skills: NLU'));
    expect(scalar.message).toBe('expected a list, found "NLU"');
    expect(scalar.hint).toBe('write a list, e.g. skills: [NLU]');
    expect(scalar.location).toMatchObject({ path: 'councils[0].agents[0].skills', line: 36, column: 17 });
  });

  it('points an unknown key at the key, with a did-you-mean', () => {
    const error = failure(withLine(33, '        modle: gpt-4o'));
    expect(error.code).toBe('config_invalid');
    expect(error.message).toBe('unknown key "modle" — did you mean "model"?');
    expect(error.hint).toBe('rename "modle" to "model"');
    expect(error.location).toEqual({
      file: 'councils.yaml',
      path: 'councils[0].agents[0].modle',
      line: 33,
      column: 9,
    });
    // The missing `model` it causes is listed too, located at the agent's map.
    expect(error.details.issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          code: 'invalid_type',
          path: 'councils[0].agents[0].model',
          line: 32,
          column: 9,
        }),
      ]),
    );
  });

  it('lists the allowed keys when no key is close', () => {
    const error = failure(afterLine(30, '    colour: blue'));
    expect(error.message).toBe('unknown key "colour"');
    expect(error.location).toMatchObject({ path: 'councils[0].colour', line: 31, column: 5 });
    expect(error.hint).toBe(
      'remove it; allowed keys in councils[0]: name, description, strategy, merge, vote, debate, router, output, memory, embedding_model, recursion_depth, recursion, knowledge, priority, limits, agents',
    );
    const top = failure(`${valid}modles: []\n`);
    expect(top.message).toBe('unknown key "modles" — did you mean "models"?');
    expect(top.location).toMatchObject({ path: 'modles', line: 41, column: 1 });
  });

  it('lists enum values with a did-you-mean', () => {
    const error = failure(withLine(17, '    type: gogle'));
    expect(error.message).toBe(
      'expected one of "openai", "anthropic", "google", "openai-compatible", "local", "simulated", "ensemble", "canary", found "gogle"',
    );
    expect(error.hint).toBe(
      'did you mean "google"? allowed: "openai", "anthropic", "google", "openai-compatible", "local", "simulated", "ensemble", "canary"',
    );
    expect(error.location).toEqual({ file: 'councils.yaml', path: 'models[2].type', line: 17, column: 11 });
    const capability = failure(withLine(7, '    capabilities: [tools, vision, json, streaming, audio]'));
    expect(capability.location).toMatchObject({ path: 'models[0].capabilities[4]', line: 7, column: 52 });
    expect(capability.hint).toBe('use one of: "tools", "vision", "json", "streaming", "embeddings"');
    const version = failure(`version: 2\n${valid}`);
    expect(version.message).toBe('expected 1, found 2');
    expect(version.hint).toBe('write 1 for version');
  });

  it('points a missing required key at the parent map and says what to add', () => {
    const error = failure(withLine(38, ''));
    expect(error.message).toBe('missing required key "model" (a string)');
    expect(error.hint).toBe('add "model:" to councils[0].agents[1] — A model id from `models:`.');
    expect(error.location).toEqual({
      file: 'councils.yaml',
      path: 'councils[0].agents[1].model',
      line: 37,
      column: 9,
    });
    const noType = failure(withLine(17, ''));
    expect(noType.message).toBe(
      'missing required key "type" (one of "openai", "anthropic", "google", "openai-compatible", "local", "simulated", "ensemble", "canary")',
    );
    expect(noType.location).toMatchObject({ path: 'models[2].type', line: 16, column: 5 });
  });

  it('reports bounds: empty lists, non-positive and too large numbers, empty strings', () => {
    const agents = failure('councils:\n  - name: C\n    agents: []\n');
    expect(agents.message).toBe('a council needs at least one agent, found an empty list');
    expect(agents.hint).toBe('add 1 entry under agents:');
    expect(agents.location).toMatchObject({ path: 'councils[0].agents', line: 3, column: 13 });

    const zero = failure(withLine(5, '    context_window: 0'));
    expect(zero.message).toBe('expected a whole number greater than 0, found 0');
    expect(zero.hint).toBe('use a value greater than 0 for context_window');

    const hot = failure(afterLine(38, '        temperature: 2.5'));
    expect(hot.message).toBe('expected a number at most 2, found 2.5');
    expect(hot.location).toMatchObject({ path: 'councils[0].agents[1].temperature', line: 39, column: 22 });

    const name = failure(withLine(32, '      - name: ""'));
    expect(name.message).toBe('expected a non-empty string, found ""');
    expect(name.location).toMatchObject({ path: 'councils[0].agents[0].name', line: 32, column: 15 });
    expect(name.hint).toBe('write a value for name');
  });

  it('never echoes a credential value', () => {
    const error = failure(withLine(4, '    api_key: ""'));
    expect(error.message).toBe('expected a non-empty string, found a string of 0 characters');
    const header = failure(afterLine(3, '    headers: { Authorization: [Bearer sk-secret] }'));
    expect(header.message).not.toContain('sk-secret');
  });

  it('reports a malformed URL', () => {
    const error = failure(withLine(22, '    endpoint: localhost:11434'));
    expect(error.message).toBe('expected a URL, found "localhost:11434"');
    expect(error.hint).toContain('http://localhost:11434/v1');
    expect(error.location).toMatchObject({ path: 'models[3].endpoint', line: 22, column: 15 });
  });

  it('reports cross-field rules of a model at the entry when the key is absent', () => {
    const error = failure(withLine(26, ''));
    expect(error.message).toBe(
      'a local model needs `endpoint` (an OpenAI-compatible server such as Ollama) or `path` (a GGUF file)',
    );
    expect(error.location).toEqual({
      file: 'councils.yaml',
      path: 'models[4].endpoint',
      line: 24,
      column: 5,
    });
    expect(error.hint).toBe('endpoint: Base URL of the API (Ollama: http://localhost:11434/v1).');
    const misplaced = failure(afterLine(17, '    path: /models/x.gguf'));
    expect(misplaced.message).toBe('`path` is only valid for type local');
    expect(misplaced.location).toMatchObject({ path: 'models[2].path', line: 18, column: 11 });
  });

  it('prefers a misspelt key over the missing key it causes', () => {
    const error = failure(withLine(26, '    pth: /models/llama-3-70b-instruct.Q4_K_M.gguf'));
    expect(error.message).toBe('unknown key "pth" — did you mean "path"?');
    expect(error.location).toMatchObject({ line: 26, column: 5 });
  });

  it('unfolds union errors to the branch that was meant', () => {
    const base = 'councils:\n  - name: C\n    agents: [{ name: A, model: m }]\n    knowledge:\n';
    const wrongType = failure(`${base}      - 5\n`);
    expect(wrongType.message).toBe('expected a string or a mapping, found 5');
    expect(wrongType.location).toMatchObject({ path: 'councils[0].knowledge[0]', line: 5, column: 9 });
    const typo = failure(`${base}      - { txt: hello }\n`);
    expect(typo.message).toBe('unknown key "txt" — did you mean "text"?');
    expect(typo.location).toMatchObject({ path: 'councils[0].knowledge[0].txt', line: 5, column: 11 });
  });

  it('reports the first problem in the file and lists all of them', () => {
    const text = withLine(33, '        model: 42').replace('    type: google', '    type: gogle');
    const error = failure(text);
    expect(error.location).toMatchObject({ path: 'models[2].type', line: 17 });
    const issues = error.details.issues as Array<{ path: string; line: number }>;
    expect(issues.map((issue) => [issue.path, issue.line])).toEqual([
      ['models[2].type', 17],
      ['councils[0].agents[0].model', 33],
    ]);
  });
});

describe('parseConfig: cross-reference checks', () => {
  it('rejects duplicate model ids at the second id', () => {
    const error = failure(withLine(9, '  - id: gpt-4o'));
    expect(error.code).toBe('config_invalid');
    expect(error.message).toBe('duplicate model id "gpt-4o" (first defined at line 2)');
    expect(error.location).toEqual({ file: 'councils.yaml', path: 'models[1].id', line: 9, column: 9 });
    expect(error.hint).toContain('unique id');
  });

  it('rejects duplicate council and agent names', () => {
    const council = '  - name: CustomerSupport\n    agents: [{ name: A, model: gpt-4o }]';
    const councils = failure(`${valid}${council}\n`);
    expect(councils.message).toBe('duplicate council name "CustomerSupport" (first defined at line 28)');
    expect(councils.location).toMatchObject({ path: 'councils[1].name', line: 41, column: 11 });

    const agents = failure(withLine(37, '      - name: Triage'));
    expect(agents.code).toBe('config_invalid');
    expect(agents.message).toBe(
      'duplicate agent name "Triage" in council "CustomerSupport" (first defined at line 32)',
    );
    expect(agents.location).toMatchObject({ path: 'councils[0].agents[1].name', line: 37, column: 15 });
  });

  it('rejects an unknown model with a did-you-mean and the known ids', () => {
    const error = failure(withLine(33, '        model: gpt4o'));
    expect(error.code).toBe('unknown_model');
    expect(error.message).toBe('unknown model "gpt4o" — did you mean "gpt-4o"?');
    expect(error.hint).toBe(
      'use "gpt-4o"; known models: gpt-4o, claude-3-5-sonnet, gemini-1.5-pro, llama-3-8b, llama-3-70b; add it under models: or fix the name',
    );
    expect(error.location).toEqual({
      file: 'councils.yaml',
      path: 'councils[0].agents[0].model',
      line: 33,
      column: 16,
    });
    expect(error.details).toMatchObject({ model: 'gpt4o', suggestion: 'gpt-4o' });
  });

  it('checks fallback entries too', () => {
    const error = failure(withLine(34, '        fallback: [claude-3-5-sonnet, mistral-large]'));
    expect(error.code).toBe('unknown_model');
    expect(error.message).toBe('unknown model "mistral-large"');
    expect(error.location).toMatchObject({ path: 'councils[0].agents[0].fallback[1]', line: 34, column: 39 });
    expect(error.details.known).toEqual([
      'gpt-4o',
      'claude-3-5-sonnet',
      'gemini-1.5-pro',
      'llama-3-8b',
      'llama-3-70b',
    ]);
  });

  it('checks model references against an empty models: list', () => {
    const error = failure('models: []\ncouncils:\n  - name: C\n    agents: [{ name: A, model: m }]\n');
    expect(error.code).toBe('unknown_model');
    expect(error.hint).toBe('known models: (none); add it under models: or fix the name');
  });

  it('checks skills only when known skills are given', () => {
    const text = withLine(36, '        skills: [nlu]');
    expect(parseConfig(text).councils[0]?.agents[0]?.skills).toEqual(['nlu']);
    const error = failure(text, { knownSkills: ['NLU', 'Search'] });
    expect(error.code).toBe('unknown_skill');
    expect(error.message).toBe('unknown skill "nlu" — did you mean "NLU"?');
    expect(error.hint).toBe('use "NLU"; known skills: NLU, Search; register the skill or fix the name');
    expect(error.location).toMatchObject({ path: 'councils[0].agents[0].skills[0]', line: 36, column: 18 });
  });

  it('reports the first reference problem in the file', () => {
    const text = withLine(38, '        model: nope').replace('skills: [NLU]', 'skills: [Nope]');
    const error = failure(text, { knownSkills: ['NLU', 'Search'] });
    expect(error.code).toBe('unknown_skill');
    expect(error.location).toMatchObject({ line: 36 });
    expect((error.details.issues as unknown[]).length).toBe(2);
  });
});

describe('loadConfigFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'forge-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads the fixture', async () => {
    const config = await loadConfigFile(fixturePath, { knownSkills: ['NLU', 'Search'] });
    expect(config.file).toBe(fixturePath);
    expect(config.models.map((model) => model.id)).toEqual([
      'gpt-4o',
      'claude-3-5-sonnet',
      'gemini-1.5-pro',
      'llama-3-8b',
      'llama-3-70b',
    ]);
    expect(config.locate(['councils', 0, 'agents', 0, 'skills', 0])).toEqual({
      file: fixturePath,
      path: 'councils[0].agents[0].skills[0]',
      line: 36,
      column: 18,
    });
  });

  it('names the file in errors', async () => {
    const path = join(dir, 'bad.yaml');
    await writeFile(path, withLine(17, '    type: gogle'));
    await expect(loadConfigFile(path)).rejects.toMatchObject({
      code: 'config_invalid',
      location: { file: path, path: 'models[2].type', line: 17, column: 11 },
    });
  });

  it('reports a missing file as config_not_found', async () => {
    const path = join(dir, 'missing.yaml');
    const error: unknown = await loadConfigFile(path).catch((caught: unknown) => caught);
    expect(HarnessError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({
      code: 'config_not_found',
      message: `config file ${path} does not exist`,
      location: { file: path, path: '' },
    });
    expect((error as HarnessError).hint).toContain('councils.yaml');
  });

  it('reports a directory as config_not_found', async () => {
    await expect(loadConfigFile(dir)).rejects.toMatchObject({
      code: 'config_not_found',
      message: `config file ${dir} is a directory`,
    });
  });
});

describe('formatYamlPath', () => {
  it.each([
    [[], ''],
    [['models'], 'models'],
    [['councils', 0, 'agents', 1, 'max_tokens'], 'councils[0].agents[1].max_tokens'],
    [['models', 0, 'headers', 'X-Api-Key'], 'models[0].headers.X-Api-Key'],
    [['models', 0, 'headers', 'a.b'], 'models[0].headers["a.b"]'],
    [['models', 0, 'headers', 'my key'], 'models[0].headers["my key"]'],
    [[0, 1], '[0][1]'],
  ] as const)('%j → %j', (path, expected) => {
    expect(formatYamlPath(path)).toBe(expected);
  });
});

describe('parseConfig: scheduler, rate limits and council priority', () => {
  const thrown = (fn: () => unknown): HarnessError => {
    try {
      fn();
    } catch (error) {
      if (HarnessError.isInstance(error)) return error;
      throw error;
    }
    throw new Error('expected a HarnessError, nothing was thrown');
  };
  const scheduled = `models:
  - id: m
    type: openai
    rate_limits: { rpm: 500, tpm: 30000, max_concurrency: 8 }
councils:
  - name: Support
    priority: high
    agents:
      - name: A
        model: m
scheduler:
  max_concurrent_runs: 4
  max_queued_runs: 100
  aging_ms: 2000
  councils:
    Support: { max_concurrent_runs: 2 }
  providers:
    openai: { rpm: 1000, tpm: 200000 }
`;

  it('maps the snake_case keys to SchedulerOptions, ModelEntry.rateLimits and CouncilSpec.priority', () => {
    const config = parseConfig(scheduled);
    expect(config.models[0]?.rateLimits).toEqual({ rpm: 500, tpm: 30_000, maxConcurrency: 8 });
    expect(config.councils[0]?.priority).toBe('high');
    expect(config.scheduler).toEqual({
      maxConcurrentRuns: 4,
      maxQueuedRuns: 100,
      agingMs: 2000,
      councils: { Support: { maxConcurrentRuns: 2 } },
      providers: { openai: { rpm: 1000, tpm: 200_000 } },
    });
  });

  it('leaves everything out when the file sets none of it', () => {
    const config = parseConfig(valid);
    expect(config.scheduler).toBeUndefined();
    expect(config.councils[0]?.priority).toBeUndefined();
    expect(config.models[0]?.rateLimits).toBeUndefined();
  });

  it.each([
    ['rpm: 500', 'rpm: 0', 'models[0].rate_limits.rpm', 4],
    ['max_concurrency: 8', 'max_concurrency: 2.5', 'models[0].rate_limits.max_concurrency', 4],
    ['priority: high', 'priority: urgent', 'councils[0].priority', 7],
    ['aging_ms: 2000', 'aging_ms: -1', 'scheduler.aging_ms', 14],
    ['max_queued_runs: 100', 'max_queued_runs: lots', 'scheduler.max_queued_runs', 13],
    ['openai: { rpm: 1000', 'opnai: { rpm: 1000', 'scheduler.providers.opnai', 18],
    ['max_concurrent_runs: 4', 'max_concurent_runs: 4', 'scheduler.max_concurent_runs', 12],
  ])('rejects %s → %s at %s', (from, to, path, line) => {
    const error = thrown(() => parseConfig(scheduled.replace(from, to)));
    expect(error).toMatchObject({ code: 'config_invalid', location: { path, line } });
  });

  it('refuses a cap for a council the file does not define, with a did-you-mean', () => {
    const error = thrown(() => parseConfig(scheduled.replace('    Support: { max', '    Suport: { max')));
    expect(error).toMatchObject({
      code: 'unknown_council',
      location: { path: 'scheduler.councils.Suport', line: 16 },
      details: { council: 'Suport', suggestion: 'Support' },
    });
  });

  it('accepts caps for councils defined elsewhere when the file has no councils', () => {
    const config = parseConfig('scheduler:\n  councils:\n    Elsewhere: { max_concurrent_runs: 1 }\n');
    expect(config.scheduler?.councils).toEqual({ Elsewhere: { maxConcurrentRuns: 1 } });
  });
});

describe('parseConfig: recursion.trigger_on expressions', () => {
  const harnessError = (fn: () => unknown): HarnessError => {
    try {
      fn();
    } catch (error) {
      if (HarnessError.isInstance(error)) return error;
      throw error;
    }
    throw new Error('expected a HarnessError, nothing was thrown');
  };
  /** A council whose `trigger_on:` line is `line` (line 4 of the file). */
  const withTriggers = (line: string) => `councils:
  - name: C
    recursion:
${line}
    agents:
      - { name: A, model: m }
`;

  it('loads valid expressions as written', () => {
    const config = parseConfig(
      withTriggers(`      trigger_on: ["confidence < 0.6", 'output contains "sorry"', steps > 3]`),
    );
    expect(config.councils[0]?.recursion?.triggerOn).toEqual([
      'confidence < 0.6',
      'output contains "sorry"',
      'steps > 3',
    ]);
  });

  it('fails with file:line:column at the second "<" of confidence << 0.6', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'forge-trigger-'));
    try {
      const path = join(dir, 'councils.yaml');
      //                                  column 20 is the opening quote, 33 the second "<"
      await writeFile(path, withTriggers('      trigger_on: ["confidence << 0.6"]'));
      const error = await loadConfigFile(path).catch((caught: unknown) => caught);
      expect(HarnessError.isInstance(error)).toBe(true);
      const located = error as HarnessError;
      expect(located).toMatchObject({
        code: 'trigger_invalid',
        location: { file: path, path: 'councils[0].recursion.trigger_on[0]', line: 4, column: 33 },
        details: { expression: 'confidence << 0.6', column: 13 },
      });
      expect(located.format().split('\n')[0]).toBe(
        `${path}:4:33 (councils[0].recursion.trigger_on[0]): trigger_on "confidence << 0.6" : expected a number, a string or a field, not "<", at column 13`,
      );
      expect(located.hint).toContain('confidence');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['plain', '      trigger_on: [confidence << 0.6]', 32],
    ['single-quoted', "      trigger_on: ['confidence << 0.6']", 33],
    ['double-quoted with an escape before it', '      trigger_on: ["\\tconfidence << 0.6"]', 35],
    ["single-quoted with '' before it", "      trigger_on: ['output == ''x'' or confidence << 0.6']", 52],
    ['in a block sequence', '      trigger_on:\n        - "confidence << 0.6"', 24],
  ])('points inside a %s scalar', (_kind, line, column) => {
    const error = harnessError(() => parseConfig(withTriggers(line), { file: 'c.yaml' }));
    expect(error.code).toBe('trigger_invalid');
    expect(error.location?.column).toBe(column);
    expect(error.location?.line).toBe(line.includes('\n') ? 5 : 4);
  });

  it('points at the entry that fails, with a did-you-mean for a misspelt field', () => {
    const error = harnessError(() =>
      parseConfig(withTriggers('      trigger_on: ["confidence < 0.6", "confidnce < 0.5"]'), {
        file: 'c.yaml',
      }),
    );
    expect(error).toMatchObject({
      code: 'trigger_invalid',
      location: { file: 'c.yaml', path: 'councils[0].recursion.trigger_on[1]', line: 4, column: 41 },
    });
    expect(error.message).toContain('(did you mean "confidence"?)');
    expect(error.details.issues).toEqual([
      expect.objectContaining({
        code: 'trigger_invalid',
        path: 'councils[0].recursion.trigger_on[1]',
        column: 41,
      }),
    ]);
  });

  it('points just past the value when the expression ends too early', () => {
    const error = harnessError(() => parseConfig(withTriggers('      trigger_on: ["confidence < "]')));
    // The value spans columns 21..33; column 34 is its closing quote.
    expect(error.location).toMatchObject({ line: 4, column: 34 });
    expect(error.message).toContain('at column 14');
  });

  it('points at the scalar when its text is not the expression (interpolated, block scalar)', () => {
    const interpolated = harnessError(() =>
      parseConfig(withTriggers('      trigger_on: ["${TRIGGER}"]'), {
        env: { TRIGGER: 'confidence << 0.6' },
      }),
    );
    expect(interpolated.location).toMatchObject({ line: 4, column: 20 });
    expect(interpolated.details).toMatchObject({ expression: 'confidence << 0.6', column: 13 });
    const block = harnessError(() =>
      parseConfig(withTriggers('      trigger_on:\n        - |\n          confidence << 0.6')),
    );
    expect(block.location).toMatchObject({ line: 5, column: 11 });
  });
});

describe('parseConfig: council strategies', () => {
  const strategyError = (text: string): HarnessError => {
    try {
      parseConfig(text, { file: 'councils.yaml', env: {} });
    } catch (error) {
      if (HarnessError.isInstance(error)) return error;
      throw error;
    }
    throw new Error('expected parseConfig to throw');
  };
  const models = `models:
  - id: sim
    type: simulated
  - id: fast
    type: simulated
councils:
`;
  /** Line numbers in the tests below count from line 1 of `models` (councils start at line 7). */
  const graphCouncil = `${models}  - name: Research
    strategy: graph
    output: Review
    agents:
      - name: Facts
        model: sim
      - name: Writer
        model: sim
        depends_on: [Facts, Review]
      - name: Review
        model: sim
        depends_on: [Writer]
`;

  it('maps every strategy option to the camelCase spec', () => {
    const config = parseConfig(`${models}  - name: Par
    strategy: parallel
    merge: Editor
    agents:
      - { name: A, model: sim }
      - { name: Editor, model: sim }
  - name: Vote
    strategy: vote
    vote: { rule: normalized, quorum: 2 }
    agents:
      - { name: A, model: sim, weight: 2 }
      - { name: B, model: sim }
  - name: Debate
    strategy: debate
    debate: { rounds: 3, judge: J }
    agents:
      - { name: A, model: sim }
      - { name: B, model: sim }
      - { name: J, model: sim }
  - name: Route
    strategy: router
    router:
      routes: [{ when: "refund|invoice", agent: Billing }]
      model: fast
      default: General
    agents:
      - { name: General, model: sim, description: Anything else }
      - { name: Billing, model: sim, description: Money matters }
  - name: Graph
    strategy: graph
    output: B
    agents:
      - { name: A, model: sim }
      - { name: B, model: sim, depends_on: [A] }
`);
    const [par, vote, debate, route, graph] = config.councils;
    expect(par).toMatchObject({ strategy: 'parallel', merge: 'Editor' });
    expect(vote).toMatchObject({ strategy: 'vote', vote: { rule: 'normalized', quorum: 2 } });
    expect(vote?.agents[0]).toEqual({ name: 'A', model: 'sim', weight: 2 });
    expect(debate?.debate).toEqual({ rounds: 3, judge: 'J' });
    expect(route?.router).toEqual({
      routes: [{ when: 'refund|invoice', agent: 'Billing' }],
      model: 'fast',
      default: 'General',
    });
    expect(route?.agents[1]).toEqual({ name: 'Billing', model: 'sim', description: 'Money matters' });
    expect(graph).toMatchObject({ strategy: 'graph', output: 'B' });
    expect(graph?.agents[1]?.dependsOn).toEqual(['A']);
  });

  it('rejects a dependency cycle with graph_cycle: the cycle spelt out, every edge located', () => {
    const error = strategyError(graphCouncil);
    expect(error.code).toBe('graph_cycle');
    expect(error.message).toBe('council "Research" has a dependency cycle: Writer -> Review -> Writer');
    expect(error.location).toEqual({
      file: 'councils.yaml',
      path: 'councils[0].agents[1].depends_on[1]',
      line: 15,
      column: 29,
    });
    expect(error.details.cycle).toEqual(['Writer', 'Review', 'Writer']);
    expect(error.details.edges).toEqual([
      {
        from: 'Writer',
        to: 'Review',
        file: 'councils.yaml',
        path: 'councils[0].agents[1].depends_on[1]',
        line: 15,
        column: 29,
      },
      {
        from: 'Review',
        to: 'Writer',
        file: 'councils.yaml',
        path: 'councils[0].agents[2].depends_on[0]',
        line: 18,
        column: 22,
      },
    ]);
    expect(error.hint).toBe(
      'an agent cannot wait for itself; remove one of these depends_on entries: ' +
        'councils[0].agents[1].depends_on[1] (line 15), councils[0].agents[2].depends_on[0] (line 18)',
    );
  });

  it('locates a three-agent cycle from its first-declared agent', () => {
    const error = strategyError(`${models}  - name: G
    strategy: graph
    agents:
      - { name: C, model: sim, depends_on: [A] }
      - { name: A, model: sim, depends_on: [B] }
      - { name: B, model: sim, depends_on: [C] }
`);
    expect(error.message).toBe('council "G" has a dependency cycle: C -> A -> B -> C');
    expect((error.details.edges as Array<{ line: number }>).map((edge) => edge.line)).toEqual([10, 11, 12]);
  });

  it.each([
    [
      'an unknown depends_on name',
      ['depends_on: [Writer]', 'depends_on: [Writr]'],
      'councils[0].agents[2].depends_on[0]',
      18,
      'council "Research": agent "Review" depends on "Writr", which is not an agent of this council — did you mean "Writer"?',
    ],
    [
      'an unknown output agent',
      ['output: Review', 'output: Reviw'],
      'councils[0].output',
      9,
      'council "Research": output agent "Reviw" is not an agent of this council — did you mean "Review"?',
    ],
    [
      'depends_on on a pipeline',
      ['strategy: graph\n    output: Review', 'strategy: pipeline'],
      'councils[0].agents[1].depends_on',
      14,
      'council "Research": agent "Writer" has `depends_on`, an option of strategy graph, but this council\'s strategy is pipeline',
    ],
    [
      'an option of another strategy',
      ['output: Review', 'vote: { quorum: 2 }'],
      'councils[0].vote',
      9,
      'council "Research": `vote` is an option of strategy vote, but this council\'s strategy is graph',
    ],
  ])('rejects %s at its line', (_, [from, to], path, line, message) => {
    const error = strategyError(graphCouncil.replace(from as string, to as string));
    expect(error).toMatchObject({ code: 'config_invalid', message, location: { path, line } });
  });

  it('rejects an invalid route expression, an unknown route agent and an unknown router model', () => {
    const router = (routes: string, model = 'fast') => `${models}  - name: Route
    strategy: router
    router:
      routes: [${routes}]
      model: ${model}
    agents:
      - { name: General, model: sim }
      - { name: Billing, model: sim }
`;
    expect(strategyError(router('{ when: "refund(", agent: Billing }'))).toMatchObject({
      code: 'config_invalid',
      message: 'council "Route": route 1 has an invalid regular expression: /refund(/i: Unterminated group',
      location: { path: 'councils[0].router.routes[0].when', line: 10, column: 24 },
    });
    expect(strategyError(router('{ when: refund, agent: Biling }'))).toMatchObject({
      location: { path: 'councils[0].router.routes[0].agent', line: 10 },
      details: { suggestion: 'Billing' },
    });
    expect(strategyError(router('{ when: refund, agent: Billing }', 'fsat'))).toMatchObject({
      code: 'unknown_model',
      message: 'unknown model "fsat" — did you mean "fast"?',
      location: { path: 'councils[0].router.model', line: 11 },
    });
  });

  it('rejects a quorum no vote can reach, and out-of-range values through the schema', () => {
    const vote = (options: string, weight = '') => `${models}  - name: V
    strategy: vote
    vote: ${options}
    agents:
      - { name: A, model: sim${weight} }
      - { name: B, model: sim }
`;
    expect(strategyError(vote('{ quorum: 3 }'))).toMatchObject({
      code: 'config_invalid',
      message: 'council "V": quorum 3 can never be reached: the 2 voters weigh 2 in total',
      location: { path: 'councils[0].vote.quorum', line: 9 },
    });
    expect(() => parseConfig(vote('{ quorum: 3 }', ', weight: 2'))).not.toThrow();
    expect(strategyError(vote('{ quorum: 1 }', ', weight: -1'))).toMatchObject({
      code: 'config_invalid',
      location: { path: 'councils[0].agents[0].weight', line: 11 },
    });
    expect(strategyError(vote('{ rule: judge }'))).toMatchObject({
      message: 'council "V": vote rule judge needs `judge: <agent>`',
      location: { path: 'councils[0].vote', line: 9 },
    });
    expect(
      strategyError(`${models}  - name: D
    strategy: debate
    debate: { rounds: 0, judge: A }
    agents:
      - { name: A, model: sim }
`),
    ).toMatchObject({ code: 'config_invalid', location: { path: 'councils[0].debate.rounds', line: 9 } });
    expect(
      strategyError(`${models}  - name: D
    strategy: paralel
    agents:
      - { name: A, model: sim }
`),
    ).toMatchObject({ code: 'config_invalid', location: { path: 'councils[0].strategy', line: 8 } });
  });
});
