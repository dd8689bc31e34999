// The AI SDK's own telemetry around harness calls: off while nobody listens (the harness reports
// through its own events), on for an application that registers an AI SDK telemetry integration or
// subscribes to the SDK's `ai:telemetry` tracing channel — for runs (streamed and not) and callLlm,
// against the fake provider server over HTTP.
import { tracingChannel } from 'node:diagnostics_channel';
import { AI_SDK_TELEMETRY_TRACING_CHANNEL, registerTelemetry } from 'ai';
import { Harness } from 'forge-harness';
import { FakeProviderServer } from 'forge-harness/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

let fake: FakeProviderServer;
let harness: Harness;
beforeAll(async () => {
  fake = await FakeProviderServer.start();
  harness = new Harness({
    models: [{ id: 'm', type: 'openai-compatible', model: 'm', endpoint: fake.baseUrl('openai-compatible') }],
    councils: [{ name: 'C', agents: [{ name: 'A', model: 'm', instructions: 'Answer.' }] }],
    memory: 'memory://',
    journal: false,
  });
});
afterAll(async () => {
  await harness.stop();
  await fake.close();
});

const registered = () =>
  ((globalThis as { AI_SDK_TELEMETRY_INTEGRATIONS?: unknown[] }).AI_SDK_TELEMETRY_INTEGRATIONS ??= []);
afterEach(() => {
  registered().length = 0;
});

/** Calls through the harness three ways; every one must succeed. */
async function callThreeWays() {
  const llm = await harness.callLlm({ model: 'm', prompt: 'hi' });
  expect(llm.text.length).toBeGreaterThan(0);
  for (const stream of [true, false]) {
    const result = await harness.run('C', 'hello', { stream });
    expect(result.status).toBe('succeeded');
  }
}

describe('AI SDK telemetry around harness calls', () => {
  it('reaches an integration registered with registerTelemetry, for runs and callLlm', async () => {
    const starts: string[] = [];
    let ends = 0;
    registerTelemetry({
      onStart: (event: { operationId: string }) => {
        starts.push(event.operationId);
      },
      onEnd: () => {
        ends += 1;
      },
    });
    await callThreeWays();
    expect(starts).toEqual(['ai.generateText', 'ai.streamText', 'ai.generateText']);
    expect(ends).toBe(3);

    // Unregistered: the next calls skip the SDK's telemetry and still succeed.
    registered().length = 0;
    await callThreeWays();
    expect(starts).toHaveLength(3);
  });

  it('reaches a subscriber of the ai:telemetry tracing channel', async () => {
    const seen: string[] = [];
    const channel = tracingChannel(AI_SDK_TELEMETRY_TRACING_CHANNEL);
    const ignore = () => {};
    const handlers = {
      start: (message: unknown) => {
        seen.push((message as { type?: string }).type ?? 'unknown');
      },
      end: ignore,
      asyncStart: ignore,
      asyncEnd: ignore,
      error: ignore,
    };
    channel.subscribe(handlers);
    try {
      await callThreeWays();
    } finally {
      channel.unsubscribe(handlers);
    }
    expect(seen.length).toBeGreaterThanOrEqual(3);
    const count = seen.length;
    await callThreeWays();
    expect(seen).toHaveLength(count);
  });
});
