import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, Council, Harness, HarnessError, Memory, type RunEvent, Skill } from 'forge-harness';
import { FakeProviderServer } from 'forge-harness/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

const simulated = [
  { id: 'fast', type: 'simulated' as const, contextWindow: 32_000, pricePerMtok: { input: 1, output: 2 } },
  { id: 'smart', type: 'simulated' as const, contextWindow: 128_000 },
];

function supportCouncil(memory = 'memory://') {
  return new Council({
    name: 'Support',
    memory,
    knowledge: [{ id: 'kb1', text: 'Refunds are issued within 5 business days of receiving the return.' }],
    agents: [
      new Agent({ name: 'Triage', model: 'fast', instructions: 'Classify.', skills: ['NLU'] }),
      new Agent({ name: 'Resolver', model: 'smart', instructions: 'Answer.', skills: ['Search'] }),
    ],
  });
}

let dir: string;
let fake: FakeProviderServer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'forge-harness-'));
  fake = await FakeProviderServer.start();
});
afterAll(async () => {
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Harness.run', () => {
  it('runs a pipeline council and reports every step as typed events with one runId and tree paths', async () => {
    const harness = new Harness({ models: simulated, councils: [supportCouncil()] });
    const seen: RunEvent[] = [];
    const run = harness.run('Support', 'I returned order #4411, where is my refund?', {
      onEvent: (e) => seen.push(e),
    });
    const iterated: RunEvent[] = [];
    for await (const event of run) iterated.push(event);
    const result = await run;

    expect(result.status).toBe('succeeded');
    expect(result.agents.map((a) => a.name)).toEqual(['Triage', 'Resolver']);
    expect(result.output).toContain('Refunds are issued within 5 business days');
    expect(result.usage.modelCalls).toBe(5); // 2 steps + NLU's own call, then 2 steps
    expect(result.usage.costUsd).toBeGreaterThan(0);

    expect(iterated).toEqual(seen);
    expect(new Set(iterated.map((e) => e.runId))).toEqual(new Set([run.runId]));
    expect(iterated.map((e) => e.seq)).toEqual(iterated.map((_, i) => i));
    const types = iterated.map((e) => e.type);
    expect(types[0]).toBe('run-start');
    expect(types.at(-1)).toBe('run-finish');
    for (const t of [
      'agent-start',
      'step-start',
      'model-call-start',
      'model-call-finish',
      'tool-call-start',
      'tool-call-finish',
      'token-delta',
      'step-finish',
      'agent-finish',
    ]) {
      expect(types).toContain(t);
    }
    const nlu = iterated.find((e) => e.type === 'tool-call-finish' && e.tool === 'NLU');
    expect(nlu?.path).toEqual(['Support', 'Triage']);
    expect(nlu?.type === 'tool-call-finish' && nlu.output).toMatchObject({
      intent: 'refund',
      entities: { order_id: '4411' },
    });
    const deltas = iterated.filter((e) => e.type === 'token-delta' && e.path[1] === 'Resolver');
    expect(deltas.map((e) => (e.type === 'token-delta' ? e.delta : '')).join('')).toContain(
      'Refunds are issued',
    );
    await harness.stop();
  });

  it('keeps each agent thread in SQLite memory across harness restarts', async () => {
    const url = `sqlite://${join(dir, 'support.db')}`;
    const first = new Harness({ models: simulated, councils: [supportCouncil(url)] });
    expect((await first.run('Support', 'Where is my order 1234?')).status).toBe('succeeded');
    await first.stop();

    const second = new Harness({ models: simulated, councils: [supportCouncil(url)] });
    const council = second.council('Support');
    await second.start();
    const thread = await council.memory!.read({ tenant: 'default', council: 'Support', agent: 'Triage' });
    expect(thread.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(thread[0]?.content).toBe('Where is my order 1234?');
    await second.stop();
  });

  it('falls back to the next model when the primary provider fails, and says so in events', async () => {
    fake.reset();
    fake.injectFault({ status: 503, times: 10 });
    const harness = new Harness({
      models: [
        {
          id: 'primary',
          type: 'openai',
          api: 'chat',
          apiKey: 'sk-test-primary-key-123',
          endpoint: fake.baseUrl('openai'),
        },
        ...simulated,
      ],
      councils: [
        new Council({
          name: 'C',
          memory: 'memory://',
          agents: [new Agent({ name: 'A', model: 'primary', fallback: ['fast'] })],
        }),
      ],
    });
    const result = await harness.run('C', 'hello there');
    expect(result.status).toBe('succeeded');
    expect(result.agents[0]?.model).toBe('fast');
    const run = result.runId;
    expect(run).toMatch(/^run_/);
    expect(fake.counters().total).toBeGreaterThanOrEqual(1);
    await harness.stop();
  });

  it('emits model-fallback with the reason, and fails typed when every model fails', async () => {
    fake.reset();
    fake.injectFault({ status: 500, times: 100 });
    const events: RunEvent[] = [];
    const harness = new Harness({
      models: [
        {
          id: 'a',
          type: 'openai',
          api: 'chat',
          apiKey: 'sk-test-aaaa-1111',
          endpoint: fake.baseUrl('openai'),
        },
        { id: 'b', type: 'anthropic', apiKey: 'sk-ant-test-bbbb-2222', endpoint: fake.baseUrl('anthropic') },
      ],
      councils: [
        new Council({
          name: 'C',
          memory: 'memory://',
          agents: [new Agent({ name: 'A', model: 'a', fallback: ['b'] })],
        }),
      ],
    });
    const result = await harness.run('C', 'hello', { onEvent: (e) => events.push(e) });
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('provider_error');
    expect(result.error?.details.statusCode).toBe(500);
    const fallback = events.find((e) => e.type === 'model-fallback');
    expect(fallback).toMatchObject({ from: 'a', to: 'b' });
    expect(
      events
        .filter((e) => e.type === 'model-call-error')
        .map((e) => (e.type === 'model-call-error' ? e.model : '')),
    ).toEqual(['a', 'a', 'a', 'b', 'b', 'b']); // each model is tried three times (two retries)
    expect(events.filter((e) => e.type === 'model-retry')).toHaveLength(4);
    expect(events.at(-1)?.type).toBe('run-error');
    const all = JSON.stringify(events) + JSON.stringify(result.error?.toJSON());
    expect(all).not.toContain('sk-test-aaaa-1111');
    expect(all).not.toContain('sk-ant-test-bbbb-2222');
    await harness.stop();
  });

  it('never leaks a key into errors or events, even when the provider echoes it', async () => {
    fake.reset();
    const key = 'sk-live-DO-NOT-LEAK-9f8e7d';
    fake.injectFault({ status: 401, message: `Incorrect API key provided: ${key}` });
    const events: RunEvent[] = [];
    const harness = new Harness({
      models: [
        {
          id: 'gpt',
          type: 'openai',
          api: 'chat',
          apiKey: 'env:TEST_OPENAI_KEY',
          endpoint: fake.baseUrl('openai'),
        },
      ],
      env: { TEST_OPENAI_KEY: key },
      councils: [
        new Council({ name: 'C', memory: 'memory://', agents: [new Agent({ name: 'A', model: 'gpt' })] }),
      ],
    });
    const result = await harness.run('C', 'hello', { onEvent: (e) => events.push(e) });
    expect(result.status).toBe('failed');
    expect(result.error?.details.statusCode).toBe(401);
    expect(result.error?.message).toContain('***');
    const everything =
      JSON.stringify(events) + result.error?.format() + JSON.stringify(result.error?.toJSON());
    expect(everything).not.toContain(key);
    expect(JSON.stringify(fake.requests)).not.toContain(key);
    await harness.stop();
  });

  it('aborts terminally: no fallback, status aborted', async () => {
    fake.reset();
    fake.injectFault({ hang: true });
    const events: RunEvent[] = [];
    const controller = new AbortController();
    const harness = new Harness({
      models: [
        {
          id: 'slow',
          type: 'openai',
          api: 'chat',
          apiKey: 'sk-test-x-1234',
          endpoint: fake.baseUrl('openai'),
        },
        ...simulated,
      ],
      councils: [
        new Council({
          name: 'C',
          memory: 'memory://',
          agents: [new Agent({ name: 'A', model: 'slow', fallback: ['fast'] })],
        }),
      ],
    });
    const run = harness.run('C', 'hello', { signal: controller.signal, onEvent: (e) => events.push(e) });
    setTimeout(() => controller.abort(new Error('user pressed stop')), 200);
    const result = await run;
    expect(result.status).toBe('aborted');
    expect(result.error?.code).toBe('aborted');
    expect(events.some((e) => e.type === 'model-fallback')).toBe(false);
    await harness.stop();
  });

  it('turns a skill failure into a tool-call-error the model sees, and the run goes on', async () => {
    const flaky = new Skill({
      name: 'Flaky',
      description: 'always fails',
      input: z.object({ text: z.string() }),
      run: () => {
        throw new Error('database unavailable');
      },
    });
    const harness = new Harness({
      models: simulated,
      memory: 'memory://',
      councils: [
        new Council({ name: 'C', agents: [new Agent({ name: 'A', model: 'fast', skills: [flaky] })] }),
      ],
    });
    const events: RunEvent[] = [];
    const result = await harness.run('C', 'check it', { onEvent: (e) => events.push(e) });
    expect(result.status).toBe('succeeded');
    const error = events.find((e) => e.type === 'tool-call-error');
    expect(error).toMatchObject({
      tool: 'Flaky',
      error: { code: 'skill_failed', message: 'database unavailable' },
    });
    expect(result.output).toContain('database unavailable');
    await harness.stop();
  });
});

describe('start() checks', () => {
  it('rejects an unknown model id with a did-you-mean', async () => {
    const harness = new Harness({
      models: simulated,
      memory: 'memory://',
      councils: [new Council({ name: 'C', agents: [new Agent({ name: 'A', model: 'smrt' })] })],
    });
    const error = await harness.start().catch((e: unknown) => e);
    expect(HarnessError.isInstance(error) && error.code).toBe('unknown_model');
    expect((error as HarnessError).hint).toContain('"smart"');
  });

  it('rejects an unknown skill with a did-you-mean', async () => {
    const harness = new Harness({
      models: simulated,
      memory: 'memory://',
      councils: [
        new Council({ name: 'C', agents: [new Agent({ name: 'A', model: 'fast', skills: ['Serch'] })] }),
      ],
    });
    const error = (await harness.start().catch((e: unknown) => e)) as HarnessError;
    expect(error.code).toBe('unknown_skill');
    expect(error.hint).toContain('"Search"');
  });

  it('names the missing environment variable of a model, never a value', async () => {
    const harness = new Harness({
      models: [{ id: 'gpt-4o', type: 'openai', apiKey: 'env:FORGE_TEST_MISSING_KEY' }],
      env: {},
      memory: 'memory://',
      councils: [new Council({ name: 'C', agents: [new Agent({ name: 'A', model: 'gpt-4o' })] })],
    });
    const error = (await harness.start().catch((e: unknown) => e)) as HarnessError;
    expect(error.code).toBe('missing_credential');
    expect(error.message).toContain('FORGE_TEST_MISSING_KEY');
    expect(error.message).toContain('gpt-4o');
  });

  it('fails a GGUF model with a clear not-available error', async () => {
    const harness = new Harness({
      models: [{ id: 'llama-3-70b', type: 'local', path: '/models/llama.gguf' }],
      memory: 'memory://',
      councils: [new Council({ name: 'C', agents: [new Agent({ name: 'A', model: 'llama-3-70b' })] })],
    });
    const error = (await harness.start().catch((e: unknown) => e)) as HarnessError;
    expect(error.code).toBe('gguf_unavailable');
    expect(error.message).toContain('embedded GGUF inference is not available yet');
  });

  it('rejects an empty council', () => {
    expect(() => new Council({ name: 'Empty', agents: [] })).toThrow(
      expect.objectContaining({ code: 'council_empty' }),
    );
  });

  it('rejects an unknown council name with a did-you-mean', async () => {
    const harness = new Harness({ models: simulated, memory: 'memory://', councils: [supportCouncil()] });
    const result = await harness.run('Suport', 'hi');
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('unknown_council');
    expect(result.error?.hint).toContain('"Support"');
  });
});

describe('callLlm / streamLlm', () => {
  const harness = new Harness({
    models: [...simulated, { id: 'tiny', type: 'simulated', contextWindow: 100 }],
    memory: 'memory://',
  });

  it('answers the seed prompt shape, streaming and not, with the same text', async () => {
    const prompt = {
      role: 'user' as const,
      content: [
        { type: 'system' as const, value: 'You are terse.' },
        { type: 'user' as const, value: 'Where is my order 1234?' },
      ],
    };
    const plain = await harness.callLlm({ model: 'fast', prompt, maxTokens: 100 });
    const streamed = harness.streamLlm({ model: 'fast', prompt, maxTokens: 100 });
    let text = '';
    for await (const delta of streamed.textStream) text += delta;
    const final = await streamed.result;
    expect(text).toBe(plain.text);
    expect(final.text).toBe(plain.text);
    expect(plain.usage.modelCalls).toBe(1);
    expect(plain.usage.costUsd).toBeGreaterThan(0);
  });

  it('returns a typed object when a schema is given', async () => {
    const result = await harness.callLlm({
      model: 'fast',
      prompt: 'I want a refund for order 99881',
      schema: z.object({ intent: z.string(), confidence: z.number() }),
    });
    expect(result.object).toEqual({ intent: 'refund', confidence: expect.any(Number) });
  });

  it('refuses a prompt that cannot fit, before calling the model', async () => {
    const error = (await harness
      .callLlm({ model: 'tiny', prompt: 'lorem ipsum '.repeat(200), maxTokens: 20 })
      .catch((e: unknown) => e)) as HarnessError;
    expect(error.code).toBe('context_too_long');
    expect(error.details).toMatchObject({ model: 'tiny', limit: 100 });
    expect(error.details.count).toBeGreaterThan(100);
  });

  it('rejects a malformed prompt with a JSON pointer', async () => {
    const error = (await harness
      .callLlm({ model: 'fast', prompt: [{ role: 'user', content: [{ type: 'usr', value: 'x' }] }] as never })
      .catch((e: unknown) => e)) as HarnessError;
    expect(error.code).toBe('prompt_invalid');
    expect(error.location?.path).toBe('/0/content/0/type');
  });
});

describe('limits, isolation and defaults', () => {
  it('ends an agent that runs out of max_steps while still calling tools with limit_exceeded', async () => {
    fake.reset();
    for (let i = 0; i < 3; i++)
      fake.enqueueReply({ toolCalls: [{ name: 'Search', args: { query: `try ${i}` } }] });
    const harness = new Harness({
      models: [
        {
          id: 'loopy',
          type: 'openai',
          api: 'chat',
          apiKey: 'sk-loop-1234',
          endpoint: fake.baseUrl('openai'),
        },
      ],
      memory: 'memory://',
      councils: [
        new Council({
          name: 'C',
          agents: [new Agent({ name: 'A', model: 'loopy', skills: ['Search'], maxSteps: 2 })],
        }),
      ],
    });
    const result = await harness.run('C', 'find it');
    expect(result.status).toBe('limit_exceeded');
    expect(result.error?.code).toBe('limit_exceeded');
    expect(result.error?.details).toMatchObject({ limit: 'max_steps', value: 2 });
    expect(fake.counters().total).toBe(2);
    await harness.stop();
  });

  it('a missing key in one council does not block runs of another', async () => {
    const harness = new Harness({
      models: [...simulated, { id: 'gpt', type: 'openai', apiKey: 'env:FORGE_TEST_ABSENT_KEY' }],
      env: {},
      memory: 'memory://',
      councils: [
        new Council({ name: 'Keyless', agents: [new Agent({ name: 'A', model: 'fast' })] }),
        new Council({ name: 'Keyed', agents: [new Agent({ name: 'B', model: 'gpt' })] }),
      ],
    });
    expect((await harness.run('Keyless', 'hello')).status).toBe('succeeded');
    const keyed = await harness.run('Keyed', 'hello');
    expect(keyed.error?.code).toBe('missing_credential');
    await expect(harness.start()).rejects.toMatchObject({ code: 'missing_credential' });
    await harness.stop();
  });

  it('gives every tenant the council knowledge, and keeps tenants apart', async () => {
    const harness = new Harness({ models: simulated, memory: 'memory://', councils: [supportCouncil()] });
    const events: RunEvent[] = [];
    const result = await harness.run('Support', 'How long do refunds take?', {
      tenant: 'acme',
      onEvent: (e) => events.push(e),
    });
    expect(result.status).toBe('succeeded');
    const search = events.find((e) => e.type === 'tool-call-finish' && e.tool === 'Search');
    expect(JSON.stringify(search)).toContain('kb1');
    const memory = harness.memoryOf(harness.council('Support'));
    expect((await memory.read({ tenant: 'acme', council: 'Support', agent: 'Triage' })).length).toBe(2);
    expect(await memory.read({ tenant: 'default', council: 'Support', agent: 'Triage' })).toEqual([]);
    await harness.stop();
  });

  it('refuses skills on a model that declares it cannot call tools', async () => {
    const harness = new Harness({
      models: [{ id: 'plain', type: 'simulated', capabilities: ['json'] }],
      memory: 'memory://',
      councils: [
        new Council({ name: 'C', agents: [new Agent({ name: 'A', model: 'plain', skills: ['NLU'] })] }),
      ],
    });
    await expect(harness.start()).rejects.toMatchObject({ code: 'config_invalid' });
  });

  it("uses a model's max_output_tokens when a call sets none", async () => {
    fake.reset();
    const harness = new Harness({
      models: [
        {
          id: 'capped',
          type: 'openai',
          api: 'chat',
          apiKey: 'sk-cap-1234',
          endpoint: fake.baseUrl('openai'),
          maxOutputTokens: 77,
        },
      ],
      memory: 'memory://',
    });
    await harness.callLlm({ model: 'capped', prompt: 'hi' });
    await harness.callLlm({ model: 'capped', prompt: 'hi', maxTokens: 12 });
    const bodies = fake.requests.map((r) => JSON.stringify(r.body));
    expect(bodies[0]).toMatch(/"max_(completion_)?tokens":77/);
    expect(bodies[1]).toMatch(/"max_(completion_)?tokens":12/);
  });
});

describe('stopping and failed-run accounting', () => {
  it('refuses start() and run() after stop()', async () => {
    const harness = new Harness({ models: simulated, memory: 'memory://', councils: [supportCouncil()] });
    await harness.start();
    await harness.stop();
    await expect(harness.start()).rejects.toMatchObject({
      code: 'harness_not_started',
      hint: 'create a new Harness',
    });
    const result = await harness.run('Support', 'hello');
    expect(result.error).toMatchObject({ code: 'harness_not_started', hint: 'create a new Harness' });
  });

  it("counts a failing agent's model calls in the run's usage", async () => {
    fake.reset();
    fake.enqueueReply({
      toolCalls: [{ name: 'Search', args: { query: 'a' } }],
      usage: { inputTokens: 100, outputTokens: 10 },
    });
    fake.enqueueReply({
      toolCalls: [{ name: 'Search', args: { query: 'b' } }],
      usage: { inputTokens: 200, outputTokens: 20 },
    });
    const harness = new Harness({
      models: [
        {
          id: 'loopy',
          type: 'openai',
          api: 'chat',
          apiKey: 'sk-usage-1234',
          endpoint: fake.baseUrl('openai'),
        },
      ],
      memory: 'memory://',
      councils: [
        new Council({
          name: 'C',
          agents: [new Agent({ name: 'A', model: 'loopy', skills: ['Search'], maxSteps: 2 })],
        }),
      ],
    });
    const events: RunEvent[] = [];
    const result = await harness.run('C', 'find it', { onEvent: (e) => events.push(e) });
    expect(result.status).toBe('limit_exceeded');
    expect(result.usage).toMatchObject({ inputTokens: 300, outputTokens: 30, modelCalls: 2 });
    const runError = events.at(-1);
    expect(runError?.type === 'run-error' && runError.usage).toMatchObject({
      inputTokens: 300,
      modelCalls: 2,
    });
    await harness.stop();
  });
});

describe('conversation summaries', () => {
  it("gives the agent's model the rolling summary of its thread as context", async () => {
    fake.reset();
    const memory = new Memory({
      url: 'memory://',
      summarize: {
        every: 2,
        summarize: async (messages, previous) =>
          [previous, ...messages.map((m) => `${m.role}: ${m.content}`)].filter(Boolean).join(' | '),
      },
    });
    const harness = new Harness({
      models: [
        {
          id: 'gpt',
          type: 'openai',
          api: 'chat',
          apiKey: 'sk-summary-1234',
          endpoint: fake.baseUrl('openai'),
        },
      ],
      councils: [
        new Council({
          name: 'C',
          memory,
          agents: [new Agent({ name: 'A', model: 'gpt', instructions: 'Be brief.' })],
        }),
      ],
    });
    fake.enqueueReply({ text: 'Noted: order 9001.' });
    await harness.run('C', 'My order is 9001.');
    fake.enqueueReply({ text: 'It ships tomorrow.' });
    await harness.run('C', 'When does it ship?');
    const second = JSON.stringify(fake.requests[1]?.body);
    expect(second).toContain('Summary of the conversation so far');
    expect(second).toContain('user: My order is 9001. | assistant: Noted: order 9001.');
    await harness.stop();
  });
});
