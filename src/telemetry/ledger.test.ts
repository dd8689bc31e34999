import { describe, expect, it } from 'vitest';
import { EventLog, emptyUsage, type RunEvent } from '../runtime/events.ts';
import { CostLedger, ledgerFromEvents } from './ledger.ts';

const failure = (code: string) => ({ code, message: `${code}!`, isRetryable: code !== 'bad_request' });

/** A run with a retry, a fallback and a sub-agent, as the gateway reports them. */
function script(log: EventLog, end = true): void {
  const a = ['C', 'A'];
  const sub = ['C', 'A', 'Sub'];
  log.emit(['C'], { type: 'run-start', council: 'C', input: 'x' });
  log.emit(a, { type: 'model-call-start', model: 'm', provider: 'openai.chat', attempt: 1, stream: true });
  log.emit(a, {
    type: 'model-call-error',
    model: 'm',
    provider: 'openai.chat',
    error: failure('server_error'),
    latencyMs: 30,
  });
  log.emit(a, { type: 'model-retry', model: 'm', attempt: 2, delayMs: 5, reason: '500' });
  log.emit(a, { type: 'model-call-start', model: 'm', provider: 'openai.chat', attempt: 2, stream: true });
  log.emit(a, {
    type: 'model-call-error',
    model: 'm',
    provider: 'openai.chat',
    error: failure('server_error'),
    latencyMs: 31,
  });
  log.emit(a, { type: 'model-fallback', from: 'm', to: 'b', reason: '500' });
  log.emit(a, {
    type: 'model-call-start',
    model: 'b',
    provider: 'anthropic.messages',
    attempt: 3,
    stream: true,
  });
  log.emit(a, {
    type: 'model-call-finish',
    model: 'b',
    provider: 'anthropic.messages',
    inputTokens: 100,
    outputTokens: 10,
    costUsd: 0.5,
    latencyMs: 200,
  });
  log.emit(sub, {
    type: 'model-call-start',
    model: 'b',
    provider: 'anthropic.messages',
    attempt: 1,
    stream: false,
  });
  log.emit(sub, {
    type: 'model-call-finish',
    model: 'b',
    provider: 'anthropic.messages',
    inputTokens: 7,
    outputTokens: 3,
    costUsd: 0.25,
    latencyMs: 50,
  });
  // An attempt that never reached a provider (no start): still a row.
  log.emit(sub, {
    type: 'model-call-error',
    model: 'x',
    provider: 'unknown',
    error: failure('unknown_model'),
    latencyMs: 0,
  });
  if (end) log.emit(['C'], { type: 'run-finish', output: 'ok', usage: emptyUsage(), durationMs: 300 });
}

describe('cost ledger', () => {
  it('has one entry per attempt with attempt numbers, fallbacks, outcomes and totals per run, path and model', () => {
    const ledger = new CostLedger();
    const log = new EventLog('run_1');
    log.subscribe((e) => ledger.observe(e));
    script(log);
    const run = ledger.ledgerOf('run_1');
    expect(run).toBeDefined();
    if (!run) return;
    expect(run.council).toBe('C');
    expect(run.status).toBe('succeeded');
    expect(
      run.entries.map((e) => [e.path.join('/'), e.model, e.attempt, e.outcome, e.fallbackFrom, e.costUsd]),
    ).toEqual([
      ['C/A', 'm', 1, 'error', undefined, 0],
      ['C/A', 'm', 2, 'error', undefined, 0],
      ['C/A', 'b', 3, 'ok', 'm', 0.5],
      ['C/A/Sub', 'b', 1, 'ok', undefined, 0.25],
      ['C/A/Sub', 'x', undefined, 'error', undefined, 0],
    ]);
    expect(run.entries[0]?.error).toEqual({ code: 'server_error', message: 'server_error!' });
    expect(run.totals).toEqual({
      attempts: 5,
      failedAttempts: 3,
      inputTokens: 107,
      outputTokens: 13,
      costUsd: 0.75,
    });
    expect(run.byPath['C/A']).toEqual({
      attempts: 3,
      failedAttempts: 2,
      inputTokens: 100,
      outputTokens: 10,
      costUsd: 0.5,
    });
    expect(run.byPath['C/A/Sub']?.costUsd).toBe(0.25);
    expect(run.byModel.m).toMatchObject({ attempts: 2, failedAttempts: 2, costUsd: 0 });
    expect(run.byModel.b).toMatchObject({ attempts: 2, failedAttempts: 0, costUsd: 0.75 });
    // A copy: changing it changes nothing held.
    run.entries.length = 0;
    expect(ledger.ledgerOf('run_1')?.entries).toHaveLength(5);
  });

  it('is the same when rebuilt from the events afterwards', () => {
    const live = new CostLedger();
    const log = new EventLog('run_2');
    log.subscribe((e) => live.observe(e));
    script(log);
    expect(ledgerFromEvents(log.events)).toEqual(live.ledgerOf('run_2'));
    expect(ledgerFromEvents([])).toBeUndefined();
  });

  it('shows a running run, keeps maxRuns finished runs and reads older ones from the journal', () => {
    const journal = new Map<string, RunEvent[]>();
    const ledger = new CostLedger({ maxRuns: 2, journal: () => ({ events: (id) => journal.get(id) ?? [] }) });
    for (const id of ['r1', 'r2', 'r3']) {
      const log = new EventLog(id);
      log.subscribe((e) => ledger.observe(e));
      script(log, id !== 'r3');
      journal.set(id, [...log.events]);
    }
    expect(ledger.ledgerOf('r3')?.status).toBe('running');
    expect(ledger.runIds()).toEqual(['r3', 'r1', 'r2']);
    const log = new EventLog('r4');
    log.subscribe((e) => ledger.observe(e));
    script(log);
    expect(ledger.runIds()).toEqual(['r3', 'r2', 'r4']);
    // r1 left memory; the journal still has its events.
    expect(ledger.ledgerOf('r1')?.totals.costUsd).toBe(0.75);
    expect(ledger.ledgerOf('nope')).toBeUndefined();
    expect(new CostLedger().ledgerOf('r1')).toBeUndefined();
    expect(() => new CostLedger({ maxRuns: -1 })).toThrow(/CostLedger.maxRuns/);
  });

  it('a run resumed in a new process continues the ledger its journal holds', () => {
    const first = new EventLog('r');
    script(first, false);
    const journal = [...first.events];
    const ledger = new CostLedger({ journal: () => ({ events: () => journal }) });
    const resumed = new EventLog('r');
    resumed.subscribe((e) => ledger.observe(e));
    resumed.emit(['C'], { type: 'run-start', council: 'C', input: 'x' });
    resumed.emit(['C'], { type: 'run-resume', attempt: 2, journaledSteps: 3 });
    resumed.emit(['C', 'A'], {
      type: 'model-call-start',
      model: 'b',
      provider: 'anthropic.messages',
      attempt: 1,
      stream: true,
    });
    resumed.emit(['C', 'A'], {
      type: 'model-call-finish',
      model: 'b',
      provider: 'anthropic.messages',
      inputTokens: 1,
      outputTokens: 1,
      costUsd: 1,
      latencyMs: 5,
    });
    resumed.emit(['C'], { type: 'run-finish', output: 'ok', usage: emptyUsage(), durationMs: 9 });
    const run = ledger.ledgerOf('r');
    expect(run?.entries).toHaveLength(6);
    expect(run?.totals.costUsd).toBe(1.75);
    expect(run?.status).toBe('succeeded');
  });
});
