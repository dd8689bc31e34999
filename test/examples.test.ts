import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Harness, type RunEvent } from 'forge-harness';
import { FakeProviderServer } from 'forge-harness/testing';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { root } from './cli-helpers.ts';

function example(name: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=forge-source', fileURLToPath(new URL(`../examples/${name}`, import.meta.url))],
      { cwd: root, env: { PATH: process.env.PATH ?? '', FORGE_MEMORY_URL: 'memory://' }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('examples run keyless', () => {
  it('quickstart.ts (§6.2): a council with a code skill and a built-in skill', async () => {
    const r = await example('quickstart.ts');
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('tool NLU → {"intent":"shipping"');
    expect(r.stdout).toContain('tool LookupOrder → {"orderId":"88123","status":"shipped"');
    expect(r.stdout).toMatch(/^succeeded: /m);
  });

  it('prompt-format.ts (§3.1): the unified prompt, streaming = non-streaming, context check', async () => {
    const r = await example('prompt-format.ts');
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/prompt tokens: \d+/);
    expect(r.stdout).toContain('streamed the same answer: true');
    expect(r.stdout).toContain('too long: context_too_long');
  });

  it('model-registry.ts (§3.2): metadata, scripted simulated reply, missing key and GGUF errors', async () => {
    const r = await example('model-registry.ts');
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/gpt-4o\s+openai\s+ctx=128000 \$2\.5\/\$10 per Mtok/);
    expect(r.stdout).toContain('simulated: Refunds take 5 business days. (You said: Can I get a refund?)');
    expect(r.stdout).toContain('gpt-4o: missing_credential');
    expect(r.stdout).toContain('OPENAI_API_KEY');
    expect(r.stdout).toContain('llama-3-70b: gguf_unavailable');
  });

  it('skills-and-policies.ts (§6.4): a skill calling a model, RecursionPolicy, OpenTelemetryExporter', async () => {
    const r = await example('skills-and-policies.ts');
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('run: ok');
    expect(r.stdout).toContain('A customer wants a refund.');
    expect(r.stdout).toContain('"maxDepth":3,"triggerOn":["confidence < 0.6"],"fallback":"BestSoFar"');
  });
});

describe('the spec councils.yaml (§3.2 + §6.3) on real provider wire formats', () => {
  let fake: FakeProviderServer;
  beforeAll(async () => {
    fake = await FakeProviderServer.start();
  });
  afterAll(() => fake.close());

  it('validates unchanged and runs with endpoints pointed at FakeProviderServer', async () => {
    const file = fileURLToPath(new URL('./fixtures/councils.yaml', import.meta.url));
    const env = {
      OPENAI_API_KEY: 'sk-test-openai-0001',
      ANTHROPIC_API_KEY: 'sk-ant-test-0002',
      GOOGLE_GENERATIVE_AI_API_KEY: 'g-test-0003',
    };
    const harness = await Harness.fromFile(file, {
      env,
      memory: 'memory://',
      modelOverrides: {
        'gpt-4o': { endpoint: fake.baseUrl('openai') },
        'claude-3-5-sonnet': { endpoint: fake.baseUrl('anthropic') },
        'gemini-1.5-pro': { endpoint: fake.baseUrl('google') },
        'llama-3-8b': { endpoint: fake.baseUrl('openai-compatible') },
      },
    });
    // The fixture's council memory is sqlite://./data/support.db, relative to the working directory.
    const cwd = process.cwd();
    process.chdir(mkdtempSync(join(tmpdir(), 'forge-seed-')));
    onTestFinished(() => process.chdir(cwd));
    const nlu = {
      intent: 'refund',
      confidence: 0.91,
      entities: { order_id: '12345' },
      sentiment: 'negative',
    };
    fake.enqueueReply(
      { toolCalls: [{ name: 'NLU', args: { text: 'Refund for order 12345 please' } }] },
      { provider: 'openai' },
    );
    fake.enqueueReply({ text: JSON.stringify(nlu) }, { provider: 'openai' });
    fake.enqueueReply({ text: 'Intent: refund, order 12345.' }, { provider: 'openai' });
    fake.enqueueReply(
      { toolCalls: [{ name: 'Search', args: { query: 'refund policy' } }] },
      { provider: 'anthropic' },
    );
    fake.enqueueReply({ text: 'Your refund for order 12345 is on its way.' }, { provider: 'anthropic' });

    const events: RunEvent[] = [];
    const result = await harness.run('CustomerSupport', 'Refund for order 12345 please', {
      onEvent: (e) => events.push(e),
    });
    expect(result.error?.format()).toBeUndefined();
    expect(result.status).toBe('succeeded');
    expect(result.output).toBe('Your refund for order 12345 is on its way.');
    expect(events.find((e) => e.type === 'tool-call-finish' && e.tool === 'NLU')).toMatchObject({
      output: nlu,
    });
    expect(events.some((e) => e.type === 'tool-call-finish' && e.tool === 'Search')).toBe(true);
    // Provider warnings (Anthropic caps max tokens for a model it does not know) arrive as events.
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'model-warning', model: 'claude-3-5-sonnet' }),
    );
    const counters = fake.counters();
    expect(counters.byRoute['openai-responses']).toBe(3);
    expect(counters.byRoute.anthropic).toBe(2);
    expect(JSON.stringify(fake.requests)).not.toContain('sk-test-openai-0001');
    await harness.stop();
  });
});

describe('council strategies example', () => {
  it('strategies.ts: parallel, vote, debate, router and graph councils built in TS', async () => {
    const r = await example('strategies.ts');
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(
      'Research (parallel) succeeded: Demand is growing; secure battery supply first.',
    );
    expect(r.stdout).toContain('  vote: Paris. (quorum 2 reached by Atlas, Baedeker; 1 voter cancelled)');
    expect(r.stdout).toContain('Capital (vote) succeeded: Paris. [confidence 0.67]');
    expect(r.stdout).toContain(
      'Style (debate) succeeded: Spaces: consistent rendering outweighs keypresses.',
    );
    expect(r.stdout).toContain('  route: Account (no route matched; the router model triage picked Account)');
    expect(r.stdout).toContain('Support (router) succeeded: Happy to help: tell me a bit more.');
    expect(r.stdout).toContain("  graph: Writer (3 agents in 2 levels; the output is Writer's)");
    expect(r.stdout).not.toContain('failed');
  });
});
