// Ensembles with voting (issue 5, item 4) through the public API: a `type: ensemble` model over
// OpenAI, Anthropic and Google models served by the real FakeProviderServer (each answering its
// own text) and simulated models. Every vote rule, quorum early finish with the slow member cut,
// weights and ties, failing members, semantic and judge voting, summed usage and cost, the
// agreement in providerMetadata, YAML with located errors, and an agent in a council.
import { generateText, jsonSchema, streamText, tool } from 'ai';
import {
  createEnsembleModel,
  Harness,
  HarnessError,
  type ModelEntry,
  ModelRegistry,
  type RunEvent,
} from 'forge-harness';
import { parseConfig } from 'forge-harness/config';
import { FakeProviderServer } from 'forge-harness/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rejection, thrown } from './harness-errors.ts';

let fake: FakeProviderServer;
beforeAll(async () => {
  fake = await FakeProviderServer.start();
});
afterAll(() => fake.close());
beforeEach(() => fake.reset());

/** Prices per million tokens, distinct per member so a wrong sum shows. */
const prices = {
  gpt: { input: 2, output: 10 },
  claude: { input: 3, output: 15 },
  gemini: { input: 1, output: 4 },
};

const providers = (): ModelEntry[] => [
  {
    id: 'gpt',
    type: 'openai',
    api: 'chat',
    model: 'gpt-4o',
    apiKey: 'sk-ensemble-openai-1234',
    endpoint: fake.baseUrl('openai'),
    pricePerMtok: prices.gpt,
  },
  {
    id: 'claude',
    type: 'anthropic',
    model: 'claude-sonnet',
    apiKey: 'sk-ant-ensemble-1234',
    endpoint: fake.baseUrl('anthropic'),
    pricePerMtok: prices.claude,
  },
  {
    id: 'gemini',
    type: 'google',
    model: 'gemini-pro',
    apiKey: 'google-ensemble-1234',
    endpoint: fake.baseUrl('google'),
    pricePerMtok: prices.gemini,
  },
];

const trio = (ensemble: Partial<NonNullable<ModelEntry['ensemble']>> = {}): ModelEntry => ({
  id: 'trio',
  type: 'ensemble',
  ensemble: { members: ['gpt', 'claude', 'gemini'], ...ensemble },
});

/** Each member answers `texts[i]` (with fixed usage, so sums are exact). */
function answers(gpt: string, claude: string, gemini: string): void {
  fake.enqueueReply({ text: gpt, usage: { inputTokens: 10, outputTokens: 1 } }, { model: 'gpt-4o' });
  fake.enqueueReply(
    { text: claude, usage: { inputTokens: 20, outputTokens: 2 } },
    { model: 'claude-sonnet' },
  );
  fake.enqueueReply({ text: gemini, usage: { inputTokens: 30, outputTokens: 3 } }, { model: 'gemini-pro' });
}

interface ForgeMetadata {
  ensemble: string;
  vote: string;
  agreement: number;
  votes: number;
  totalWeight: number;
  winner: string;
  members: Array<{
    id: string;
    ok: boolean;
    status: string;
    text?: string;
    error?: { code: string; message: string };
    inputTokens: number;
    outputTokens: number;
    costUsd: number;
  }>;
  groups: Array<{ members: string[]; weight: number }>;
  costUsd: number;
  judge?: { model: string; pick: number | null };
}

const forgeOf = (metadata: unknown) => (metadata as { forge: ForgeMetadata }).forge;

/** One call to the ensemble through the registry and the AI SDK, as a provider model. */
async function ask(entries: ModelEntry[], prompt = 'What is the capital of France?') {
  const registry = new ModelRegistry(entries);
  const result = await generateText({ model: registry.resolve('trio').model, prompt, maxRetries: 0 });
  return { text: result.text, usage: result.usage, forge: forgeOf(result.providerMetadata) };
}

describe('vote rules', () => {
  it('exact: identical answers (outer whitespace aside) agree; "paris." is another answer', async () => {
    answers('Paris', ' Paris\n', 'paris.');
    const { text, forge } = await ask([...providers(), trio({ vote: 'exact' })]);
    expect(text).toBe('Paris');
    expect(forge).toMatchObject({ vote: 'exact', winner: 'gpt', votes: 2, totalWeight: 3 });
    expect(forge.agreement).toBeCloseTo(2 / 3);
    expect(forge.groups).toEqual([
      { members: ['gpt', 'claude'], weight: 2 },
      { members: ['gemini'], weight: 1 },
    ]);
    expect(forge.members.map((m) => [m.id, m.ok, m.text])).toEqual([
      ['gpt', true, 'Paris'],
      ['claude', true, ' Paris\n'],
      ['gemini', true, 'paris.'],
    ]);
  });

  it('normalized (the default): case, spaces and punctuation do not split the vote', async () => {
    answers('Paris', ' Paris\n', 'paris.');
    const { forge } = await ask([...providers(), trio()]);
    expect(forge).toMatchObject({ vote: 'normalized', winner: 'gpt', agreement: 1, votes: 3 });
  });

  it('the heaviest answer wins even against the first member', async () => {
    answers('Lyon', 'Paris', 'Paris!');
    const { text, forge } = await ask([...providers(), trio()]);
    expect(text).toBe('Paris');
    expect(forge.winner).toBe('claude');
    expect(forge.agreement).toBeCloseTo(2 / 3);
  });

  it('semantic: answers whose embeddings are close enough agree (simulated embedding model)', async () => {
    const entries: ModelEntry[] = [
      {
        id: 'a',
        type: 'simulated',
        rules: [{ when: '.', reply: 'Shipping is free on orders over fifty dollars.' }],
      },
      {
        id: 'b',
        type: 'simulated',
        rules: [{ when: '.', reply: 'Your refund arrives in five business days.' }],
      },
      {
        id: 'c',
        type: 'simulated',
        rules: [{ when: '.', reply: 'The refund will arrive within five business days.' }],
      },
      { id: 'embedder', type: 'simulated', dimensions: 256 },
    ];
    const semantic = await ask([
      ...entries,
      {
        id: 'trio',
        type: 'ensemble',
        ensemble: {
          members: ['a', 'b', 'c'],
          vote: 'semantic',
          embeddingModel: 'embedder',
          similarity: 0.75,
        },
      },
    ]);
    expect(semantic.text).toBe('Your refund arrives in five business days.');
    expect(semantic.forge).toMatchObject({ vote: 'semantic', winner: 'b', votes: 2 });
    expect(semantic.forge.groups).toEqual([
      { members: ['b', 'c'], weight: 2 },
      { members: ['a'], weight: 1 },
    ]);
    // The same answers under normalized matching: three different answers, the first member wins.
    const normalized = await ask([
      ...entries,
      { id: 'trio', type: 'ensemble', ensemble: { members: ['a', 'b', 'c'] } },
    ]);
    expect(normalized.forge).toMatchObject({ winner: 'a', votes: 1 });
  });

  it('judge: the judge model reads the conversation and the distinct answers and picks one', async () => {
    answers('Lyon', 'Paris', 'Lyon');
    fake.enqueueReply(
      { text: 'The best is [2].', usage: { inputTokens: 100, outputTokens: 4 } },
      { model: 'judge-1' },
    );
    const judge: ModelEntry = {
      id: 'referee',
      type: 'openai',
      api: 'chat',
      model: 'judge-1',
      apiKey: 'sk-judge-1234',
      endpoint: fake.baseUrl('openai'),
      pricePerMtok: { input: 5, output: 5 },
    };
    const { text, usage, forge } = await ask([
      ...providers(),
      judge,
      trio({ vote: 'judge', judge: 'referee' }),
    ]);
    // Lyon has the majority (2 of 3), but the judge picks answer [2], Paris.
    expect(text).toBe('Paris');
    expect(forge).toMatchObject({ winner: 'claude', votes: 1, judge: { model: 'referee', pick: 2 } });
    expect(forge.agreement).toBeCloseTo(1 / 3);
    const asked = fake.requests.find((r) => r.model === 'judge-1');
    const body = JSON.stringify(asked?.body);
    expect(body).toContain('What is the capital of France?');
    expect(body).toContain('[1] Lyon');
    expect(body).toContain('[2] Paris');
    expect(body).not.toContain('[3]');
    // Members' usage plus the judge's.
    expect(usage.inputTokens).toBe(10 + 20 + 30 + 100);
    expect(forge.costUsd).toBeCloseTo(
      (10 * 2 + 1 * 10 + 20 * 3 + 2 * 15 + 30 * 1 + 3 * 4 + 100 * 5 + 4 * 5) / 1_000_000,
      12,
    );
  });

  it('judge: a unanimous vote needs no judge call', async () => {
    answers('Paris', 'Paris', 'Paris');
    const { forge } = await ask([
      ...providers(),
      { id: 'referee', type: 'simulated' },
      trio({ vote: 'judge', judge: 'referee' }),
    ]);
    expect(forge.agreement).toBe(1);
    expect(forge.judge).toBeUndefined();
  });
});

describe('quorum, weights, failures', () => {
  it('quorum: finishes once two agree; the hanging member is aborted and its request cut', async () => {
    answers('Paris', 'Paris', 'never sent');
    // The Google request never answers: only the client going away ends it.
    fake.injectFault({ hang: true, match: { model: 'gemini-pro' } });
    const started = Date.now();
    const { text, forge, usage } = await ask([...providers(), trio({ quorum: 2 })]);
    expect(text).toBe('Paris');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(forge).toMatchObject({ winner: 'gpt', votes: 2, totalWeight: 2, agreement: 1 });
    expect(forge.members.find((m) => m.id === 'gemini')).toMatchObject({ ok: false, status: 'cancelled' });
    // The server did receive the Google request, which produced nothing: its tokens are not counted.
    expect(fake.counters().byFamily.google).toBe(1);
    expect(usage.inputTokens).toBe(10 + 20);
  });

  it('quorum out of reach: no_quorum once no answer can get there', async () => {
    answers('Paris', 'Lyon', 'Nice');
    const registry = new ModelRegistry([...providers(), trio({ quorum: 2 })]);
    const error = await rejection(
      generateText({ model: registry.resolve('trio').model, prompt: 'capital?', maxRetries: 0 }),
    );
    expect(error.code).toBe('no_quorum');
    expect(error.message).toContain('quorum of 2 (best: 1)');
    expect(error.isRetryable).toBe(false);
  });

  it('weights: a heavy member outvotes two light ones; a tie goes to the heavier member', async () => {
    answers('Lyon', 'Paris', 'Paris');
    const heavy = await ask([...providers(), trio({ weights: { gpt: 3 } })]);
    expect(heavy.text).toBe('Lyon');
    expect(heavy.forge).toMatchObject({ winner: 'gpt', votes: 3, totalWeight: 5 });
    expect(heavy.forge.agreement).toBeCloseTo(3 / 5);

    // 2 (gpt + gemini) against 2 (claude alone): equal weight, claude is the heavier member.
    answers('Lyon', 'Paris', 'Lyon');
    const tie = await ask([...providers(), trio({ weights: { claude: 2 } })]);
    expect(tie.text).toBe('Paris');
    expect(tie.forge.winner).toBe('claude');

    // Equal weight and equal members: the first member in list order.
    answers('Lyon', 'Paris', 'Nice');
    const first = await ask([...providers(), trio()]);
    expect(first.forge.winner).toBe('gpt');
  });

  it('a failing member is left out of the vote and of the agreement', async () => {
    answers('Paris', 'unused', 'Lyon');
    fake.injectFault({ status: 500, match: { model: 'claude-sonnet' } });
    const { text, forge } = await ask([...providers(), trio()]);
    expect(text).toBe('Paris');
    expect(forge.totalWeight).toBe(2);
    expect(forge.agreement).toBe(0.5);
    const claude = forge.members.find((m) => m.id === 'claude');
    expect(claude).toMatchObject({ ok: false, status: 'failed', error: { code: 'provider_error' } });
    expect(claude?.error?.message).toContain('HTTP 500');
  });

  it('every member failing is one no_quorum error that lists each failure, with no key in it', async () => {
    fake.injectFault({ status: 503, match: { model: 'gpt-4o' } });
    fake.injectFault({ status: 401, match: { model: 'claude-sonnet' } });
    fake.injectFault({ status: 404, match: { model: 'gemini-pro' } });
    const harness = new Harness({ models: [...providers(), trio()], memory: 'memory://', journal: false });
    const error = await rejection(harness.callLlm({ model: 'trio', prompt: 'capital?' }));
    expect(error.code).toBe('no_quorum');
    expect(error.message).toMatch(
      /every member failed — gpt: .*HTTP 503.*; claude: .*HTTP 401.*; gemini: .*HTTP 404/,
    );
    expect(error.details.failed).toMatchObject([
      { member: 'gpt', code: 'provider_error', kind: 'overloaded' },
      { member: 'claude', code: 'provider_error', kind: 'auth' },
      { member: 'gemini', code: 'provider_error', kind: 'not_found' },
    ]);
    // 401 and 404 cannot heal: the gateway must not retry the ensemble.
    expect(error.isRetryable).toBe(false);
    expect(fake.counters().total).toBe(3);
    expect(JSON.stringify(error.toJSON())).not.toMatch(/sk-ensemble|sk-ant-ensemble|google-ensemble/);
    await harness.stop();
  });
});

describe('streams, tool calls, usage', () => {
  it('streams the winning answer once the vote is decided; a member whose stream is cut is excluded', async () => {
    answers('The capital is Paris.', 'The capital is Paris.', 'The capital is Lyon.');
    fake.injectFault({ cutAfterChunks: 2, match: { model: 'claude-sonnet' } });
    const registry = new ModelRegistry([...providers(), trio()]);
    const result = streamText({ model: registry.resolve('trio').model, prompt: 'capital?', maxRetries: 0 });
    let streamed = '';
    for await (const delta of result.textStream) streamed += delta;
    expect(streamed).toBe('The capital is Paris.');
    const forge = forgeOf(await result.providerMetadata);
    expect(forge.members.map((m) => m.status)).toEqual(['answered', 'failed', 'answered']);
    // Paris (gpt) against Lyon (gemini): a tie, the first member wins with half the answering weight.
    expect(forge).toMatchObject({ winner: 'gpt', agreement: 0.5 });
    expect((await result.usage).inputTokens).toBe(10 + 30);
  });

  it('tool calls vote too: same tool and arguments agree whatever the key order', async () => {
    fake.enqueueReply(
      { toolCalls: [{ name: 'weather', args: { city: 'Rome', unit: 'c' } }] },
      { model: 'gpt-4o' },
    );
    fake.enqueueReply(
      { toolCalls: [{ name: 'weather', args: { unit: 'c', city: 'Paris' } }] },
      { model: 'claude-sonnet' },
    );
    fake.enqueueReply(
      { toolCalls: [{ name: 'weather', args: { city: 'Paris', unit: 'c' } }] },
      { model: 'gemini-pro' },
    );
    const registry = new ModelRegistry([...providers(), trio()]);
    const result = await generateText({
      model: registry.resolve('trio').model,
      prompt: 'Weather in Paris?',
      maxRetries: 0,
      tools: {
        weather: tool({
          inputSchema: jsonSchema<{ city: string; unit: string }>({
            type: 'object',
            properties: { city: { type: 'string' }, unit: { type: 'string' } },
            required: ['city', 'unit'],
          }),
        }),
      },
    });
    expect(result.toolCalls.map((call) => [call.toolName, call.input])).toEqual([
      ['weather', { unit: 'c', city: 'Paris' }],
    ]);
    expect(forgeOf(result.providerMetadata)).toMatchObject({ winner: 'claude', votes: 2 });
  });

  it('through the gateway: usage is the members’ sum, the ensemble is the model that answered', async () => {
    answers('Paris', 'Paris', 'Lyon');
    const harness = new Harness({ models: [...providers(), trio()], memory: 'memory://', journal: false });
    const result = await harness.callLlm({ model: 'trio', prompt: 'capital?' });
    expect(result).toMatchObject({ text: 'Paris', model: 'trio' });
    expect(result.usage).toMatchObject({ inputTokens: 60, outputTokens: 6, modelCalls: 1 });
    await harness.stop();
  });

  it('an abort from the caller is terminal and cuts every member', async () => {
    fake.injectFault({ hang: true, times: 3 });
    const registry = new ModelRegistry([...providers(), trio()]);
    const controller = new AbortController();
    const call = generateText({
      model: registry.resolve('trio').model,
      prompt: 'capital?',
      maxRetries: 0,
      abortSignal: controller.signal,
    });
    await waitFor(() => fake.counters().total === 3);
    controller.abort(new Error('user left'));
    const error = await call.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(HarnessError.isInstance(error) && error.code).toBe('aborted');
  });
});

describe('registry and config', () => {
  it('an ensemble that contains itself through another is config_invalid when resolved', () => {
    const registry = new ModelRegistry([
      ...providers(),
      { id: 'duo', type: 'ensemble', ensemble: { members: ['gpt', 'trio'] } },
      trio({ members: ['claude', 'duo'] }),
    ]);
    const error = thrown(() => registry.resolve('trio'));
    expect(error.code).toBe('config_invalid');
    expect(error.message).toBe('ensemble "trio" contains itself: trio → duo → trio');
    expect(thrown(() => registry.resolve('duo')).code).toBe('config_invalid');
  });

  it('an unknown member is unknown_model naming the ensemble and a guess', () => {
    const registry = new ModelRegistry([...providers(), trio({ members: ['gpt', 'claud'] })]);
    const error = thrown(() => registry.resolve('trio'));
    expect(error.code).toBe('unknown_model');
    expect(error.message).toBe('ensemble "trio" lists unknown model "claud"');
    expect(error.hint).toBe('did you mean "claude"?');
  });

  const yaml = (ensemble: string) => `models:
  - id: gpt-4o
    type: simulated
  - id: claude
    type: simulated
  - id: embedder
    type: simulated
  - id: trio
    type: ensemble
    ensemble:
${ensemble}
`;

  it('YAML: the ensemble spec maps to camelCase', () => {
    const config = parseConfig(
      yaml(`      members: [gpt-4o, claude]
      vote: semantic
      quorum: 2
      weights: { gpt-4o: 2 }
      embedding_model: embedder
      similarity: 0.8`),
    );
    expect(config.models[3]).toEqual({
      id: 'trio',
      type: 'ensemble',
      ensemble: {
        members: ['gpt-4o', 'claude'],
        vote: 'semantic',
        quorum: 2,
        weights: { 'gpt-4o': 2 },
        embeddingModel: 'embedder',
        similarity: 0.8,
      },
    });
  });

  it('YAML: bad ensembles are refused at the offending line', () => {
    const cases: Array<[string, string, string, number]> = [
      [
        '      members: [gpt-4o, claud]',
        'unknown_model',
        'unknown model "claud" — did you mean "claude"?',
        11,
      ],
      [
        '      members: [gpt-4o, claude]\n      quorum: 3',
        'config_invalid',
        "at most the members' total weight 2",
        12,
      ],
      [
        '      members: [gpt-4o, claude]\n      vote: judge',
        'config_invalid',
        'votes by judge but names no judge',
        12,
      ],
      [
        '      members: [gpt-4o, claude]\n      judge: gpt-4o',
        'config_invalid',
        'only valid with vote: judge',
        12,
      ],
      [
        '      members: [gpt-4o, claude]\n      weights: { gpt: 2 }',
        'config_invalid',
        'not one of its members',
        12,
      ],
      [
        '      members: [gpt-4o, claude]\n      vote: semantic\n      embedding_model: embeder',
        'unknown_model',
        'did you mean "embedder"?',
        13,
      ],
      ['      members: [gpt-4o]', 'config_invalid', 'at least two members', 11],
      [
        '      members: [gpt-4o, claude]\n      similarity: 0.5',
        'config_invalid',
        'only valid with vote: semantic',
        12,
      ],
    ];
    for (const [spec, code, message, line] of cases) {
      const error = thrown(() => parseConfig(yaml(spec), { file: 'models.yaml' }));
      expect([error.code, error.location?.line], spec).toEqual([code, line]);
      expect(error.message, spec).toContain(message);
    }
  });

  it('YAML: a type ensemble needs its spec, and provider keys do not belong on it', () => {
    const missing = thrown(() => parseConfig('models:\n  - id: trio\n    type: ensemble\n'));
    expect(missing.message).toContain('needs `ensemble: { members: [...] }`');
    const endpoint = thrown(() =>
      parseConfig(
        'models:\n  - id: a\n    type: simulated\n  - id: b\n    type: simulated\n  - id: trio\n    type: ensemble\n    endpoint: http://localhost:1/v1\n    ensemble: { members: [a, b] }\n',
      ),
    );
    expect([endpoint.code, endpoint.location?.line]).toEqual(['config_invalid', 8]);
    expect(endpoint.message).toContain('not valid for type ensemble');
  });

  it('YAML: a cycle through two ensembles is refused with the path', () => {
    const error = thrown(() =>
      parseConfig(`models:
  - id: a
    type: simulated
  - id: duo
    type: ensemble
    ensemble: { members: [a, trio] }
  - id: trio
    type: ensemble
    ensemble: { members: [a, duo] }
`),
    );
    expect(error.code).toBe('config_invalid');
    expect(error.message).toBe('ensemble "duo" contains itself: duo → trio → duo');
    expect(error.location?.line).toBe(6);
  });
});

describe('an agent in a council on an ensemble', () => {
  it('runs through the gateway like any model: output, events and usage of the ensemble', async () => {
    const config = parseConfig(`models:
  - id: gpt
    type: openai
    api: chat
    model: gpt-4o
    api_key: sk-ensemble-openai-1234
    endpoint: ${fake.baseUrl('openai')}
  - id: claude
    type: anthropic
    model: claude-sonnet
    api_key: sk-ant-ensemble-1234
    endpoint: ${fake.baseUrl('anthropic')}
  - id: local
    type: simulated
    rules:
      - when: refund
        reply: Refunds take five business days.
  - id: trio
    type: ensemble
    ensemble:
      members: [gpt, claude, local]
      quorum: 3
      weights: { local: 2 }
councils:
  - name: Support
    agents:
      - name: Answer
        model: trio
`);
    // gpt never answers: the run can only end if the ensemble cuts it once the quorum is reached.
    fake.injectFault({ hang: true, match: { model: 'gpt-4o' } });
    fake.enqueueReply(
      { text: 'refunds take five business days', usage: { inputTokens: 9, outputTokens: 4 } },
      { model: 'claude-sonnet' },
    );
    const harness = new Harness({
      models: config.models,
      councils: config.councils,
      memory: 'memory://',
      journal: false,
    });
    const events: RunEvent[] = [];
    const result = await harness.run('Support', 'How long does a refund take?', {
      onEvent: (e) => events.push(e),
    });
    expect(result.error?.format()).toBeUndefined();
    // local (weight 2) and claude agree under normalized matching: weight 3 reaches the quorum;
    // local's text is returned, as the heavier member of the winning answer.
    expect(result.output).toBe('Refunds take five business days.');
    expect(fake.counters().byModel).toMatchObject({ 'gpt-4o': 1, 'claude-sonnet': 1 });
    expect(events.filter((e) => e.type === 'model-call-error')).toEqual([]);
    const finishes = events.filter((e) => e.type === 'model-call-finish');
    expect(finishes.map((e) => e.type === 'model-call-finish' && e.model)).toEqual(['trio']);
    const finish = finishes[0] as Extract<RunEvent, { type: 'model-call-finish' }>;
    // claude's 9 input tokens plus the simulated member's; the cut gpt call reported none.
    expect(finish.inputTokens).toBeGreaterThan(9);
    expect(result.usage.inputTokens).toBe(finish.inputTokens);
    await harness.stop();
  });
});

describe('createEnsembleModel', () => {
  it('builds an ensemble over any models, without a registry', async () => {
    const registry = new ModelRegistry([
      { id: 'x', type: 'simulated', rules: [{ when: '.', reply: 'yes' }] },
      { id: 'y', type: 'simulated', rules: [{ when: '.', reply: 'Yes.' }] },
    ]);
    const model = createEnsembleModel({
      entry: { id: 'pair', type: 'ensemble', ensemble: { members: ['x', 'y'] } },
      resolveMember: (id) => registry.resolve(id).model,
    });
    const result = await generateText({ model, prompt: 'ok?', maxRetries: 0 });
    expect(result.text).toBe('yes');
    expect(forgeOf(result.providerMetadata)).toMatchObject({ ensemble: 'pair', agreement: 1, winner: 'x' });
  });
});

/** Polls `condition` every 5 ms for up to 5 s. */
async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
