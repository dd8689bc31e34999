// RunOptions.stream unset (ADR 0008): a run streams its answers while someone watches it live and
// makes non-streaming calls otherwise — checked on the wire, with the fake provider server's
// request log, and in the events.
import type { RunEvent } from 'forge-harness';
import { Harness, installTelemetry } from 'forge-harness';
import { FakeProviderServer } from 'forge-harness/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

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
beforeEach(() => fake.reset());

/** What the provider was asked: streamed or not, per request. */
const wire = () => fake.requests.map((r) => r.stream);
const deltas = (events: readonly RunEvent[]) => events.filter((e) => e.type === 'token-delta').length;
const callStarts = (events: readonly RunEvent[]) =>
  events.flatMap((e) => (e.type === 'model-call-start' ? [e.stream] : []));

describe('RunOptions.stream unset', () => {
  it('does not stream a run nobody watches (the harness’s own telemetry does not count)', async () => {
    const run = harness.run('C', 'hello');
    const result = await run;
    expect(result.status).toBe('succeeded');
    expect(result.output.length).toBeGreaterThan(0);
    expect(wire()).toEqual([false]);
    expect(deltas(run.events)).toBe(0);
    expect(callStarts(run.events)).toEqual([false]);
    // A late iterator still replays every event the run had.
    const replayed: string[] = [];
    for await (const event of run) replayed.push(event.type);
    expect(replayed).toEqual(run.events.map((e) => e.type));
  });

  it('streams a run that is iterated, or has an onEvent listener', async () => {
    const iterated: RunEvent[] = [];
    for await (const event of harness.run('C', 'hello')) iterated.push(event);
    expect(deltas(iterated)).toBeGreaterThan(0);

    const seen: RunEvent[] = [];
    const result = await harness.run('C', 'hello', { onEvent: (e) => seen.push(e) });
    expect(result.status).toBe('succeeded');
    expect(deltas(seen)).toBeGreaterThan(0);
    expect(callStarts(seen)).toEqual([true]);
    expect(wire()).toEqual([true, true]);
  });

  it('streams every run while a harness.subscribe listener takes deltas, not for one that declines them', async () => {
    const quiet = harness.subscribe(() => {}, { tokenDeltas: false });
    await harness.run('C', 'one');
    const telemetry = installTelemetry(harness);
    await harness.run('C', 'two');
    const seen: RunEvent[] = [];
    const loud = harness.subscribe((e) => seen.push(e));
    await harness.run('C', 'three');
    loud();
    loud(); // unsubscribing twice changes nothing
    await harness.run('C', 'four');
    quiet();
    telemetry.close();
    expect(wire()).toEqual([false, false, true, false]);
    expect(deltas(seen)).toBeGreaterThan(0);
  });

  it('follows stream: true and stream: false whoever watches', async () => {
    const forced = harness.run('C', 'hello', { stream: true });
    await forced;
    expect(deltas(forced.events)).toBeGreaterThan(0);
    const seen: RunEvent[] = [];
    await harness.run('C', 'hello', { stream: false, onEvent: (e) => seen.push(e) });
    expect(deltas(seen)).toBe(0);
    expect(wire()).toEqual([true, false]);
  });

  it('streams anyway on a model whose settings time the first token (timeouts, hedging, latency threshold)', async () => {
    const endpoint = fake.baseUrl('openai-compatible');
    const h = new Harness({
      models: [
        { id: 'timed', type: 'openai-compatible', model: 'm', endpoint, timeouts: { firstTokenMs: 5000 } },
        { id: 'watched', type: 'openai-compatible', model: 'm', endpoint, latencyThresholdMs: 5000 },
        { id: 'plain', type: 'openai-compatible', model: 'm', endpoint, timeouts: { totalMs: 5000 } },
      ],
      councils: ['timed', 'watched', 'plain'].map((model) => ({
        name: model,
        agents: [{ name: 'A', model, instructions: 'Answer.' }],
      })),
      memory: 'memory://',
      journal: false,
    });
    try {
      for (const council of ['timed', 'watched', 'plain']) {
        expect((await h.run(council, 'hello')).status).toBe('succeeded');
      }
      // A total timeout means the same either way: that run need not stream.
      expect(wire()).toEqual([true, true, false]);
    } finally {
      await h.stop();
    }
  });
});
