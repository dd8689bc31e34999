// Issue 6 §4 / spec §3.3: swapping a council's model leaves its memory untouched — the new model
// receives the conversation so far, and semantic recall over the council memory still answers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, Council, Harness, Memory, type RunEvent } from 'forge-harness';
import { FakeProviderServer } from 'forge-harness/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';

let fake: FakeProviderServer;
let dir: string;
beforeAll(async () => {
  fake = await FakeProviderServer.start();
  dir = mkdtempSync(join(tmpdir(), 'forge-swap-'));
});
afterAll(async () => {
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

it('a model swap keeps the conversation and semantic recall', async () => {
  const memory = new Memory({ url: `sqlite://${join(dir, 'swap.db')}` });
  const council = (model: string) =>
    new Council({
      name: 'Support',
      memory,
      embeddingModel: 'embedder',
      knowledge: [
        { id: 'kb-refund', text: 'Refunds reach the original card within five business days.' },
        { id: 'kb-ship', text: 'Parcels ship from Rotterdam every weekday morning.' },
      ],
      agents: [new Agent({ name: 'Helper', model, skills: ['Search'] })],
    });
  const harness = new Harness({
    models: [
      { id: 'before', type: 'simulated' },
      {
        id: 'after',
        type: 'openai',
        api: 'chat',
        apiKey: 'sk-swap-test-1',
        endpoint: fake.baseUrl('openai'),
      },
      { id: 'embedder', type: 'simulated', dimensions: 32 },
    ],
    councils: [council('before')],
  });

  const first = await harness.run('Support', 'My order number is 4411 and I want my money back.');
  expect(first.status).toBe('succeeded');
  expect(first.agents[0]?.model).toBe('before');

  // Hot-swap: the same council, same memory, another model.
  harness.addCouncil(council('after'));
  fake.enqueueReply({ toolCalls: [{ name: 'Search', args: { query: 'refund card business days' } }] });
  fake.enqueueReply({ text: 'Order 4411: your refund reaches your card within five business days.' });
  const events: RunEvent[] = [];
  const second = await harness.run('Support', 'When will I get it?', { onEvent: (e) => events.push(e) });
  expect(second.error?.format()).toBeUndefined();
  expect(second.agents[0]?.model).toBe('after');

  // The new model was given the conversation the old model had.
  const firstRequest = JSON.stringify(fake.requests[0]?.body);
  expect(firstRequest).toContain('My order number is 4411');
  // Semantic recall (simulated embeddings, not word overlap alone) still finds the refund note first.
  const search = events.find((e) => e.type === 'tool-call-finish' && e.tool === 'Search');
  const hits = (search?.type === 'tool-call-finish' ? search.output : undefined) as {
    hits: Array<{ id: string }>;
  };
  expect(hits.hits[0]?.id).toBe('kb-refund');
  // And the thread now holds both turns, in order.
  const thread = await harness
    .memoryOf(harness.council('Support'))
    .read({ council: 'Support', agent: 'Helper' });
  expect(thread.map((m) => m.content)).toEqual([
    'My order number is 4411 and I want my money back.',
    first.output,
    'When will I get it?',
    'Order 4411: your refund reaches your card within five business days.',
  ]);
  await harness.stop();
});
