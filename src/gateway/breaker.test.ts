import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BreakerBoard, type BreakerChange, defaultBreakerOptions } from './breaker.ts';

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2026-11-27T10:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

const now = () => Date.now();

describe('Circuit', () => {
  it('opens after consecutive failures, skips during the cooldown, probes once, closes on success', () => {
    const board = new BreakerBoard({
      defaults: { consecutiveFailures: 3, errorRate: 0, halfOpenAfterMs: 1000 },
    });
    const changes: BreakerChange[] = [];
    board.onChange((change) => changes.push(change));
    const circuit = board.get('model', 'm');
    circuit.failure(false, 'HTTP 500', now());
    circuit.failure(false, 'HTTP 500', now());
    // A success in between starts the count over.
    circuit.success(false);
    circuit.failure(false, 'HTTP 500', now());
    circuit.failure(false, 'HTTP 500', now());
    expect(circuit.admit(now())).toBe('pass');
    const opened = circuit.failure(false, 'HTTP 503', now());
    expect(opened).toMatchObject({ scope: 'model', key: 'm', state: 'open' });
    expect(opened?.reason).toContain('3 failures in a row, last: HTTP 503');
    expect(circuit.admit(now())).toBe('skip');
    expect(circuit.retryAfterMs(now())).toBe(1000);
    vi.advanceTimersByTime(999);
    expect(circuit.admit(now())).toBe('skip');
    vi.advanceTimersByTime(1);
    expect(circuit.admit(now())).toBe('probe');
    expect(circuit.beginProbe(now())).toMatchObject({ state: 'half-open' });
    // While the probe is out every other call skips.
    expect(circuit.admit(now())).toBe('skip');
    expect(circuit.success(true)).toMatchObject({ state: 'closed', reason: 'probe succeeded' });
    expect(circuit.admit(now())).toBe('pass');
    expect(changes.map((c) => c.state)).toEqual(['open', 'half-open', 'closed']);
  });

  it('reopens when the probe fails, and lets another probe go when a probe is cancelled', () => {
    const board = new BreakerBoard({
      defaults: { consecutiveFailures: 1, errorRate: 0, halfOpenAfterMs: 500 },
    });
    const circuit = board.get('model', 'm');
    circuit.failure(false, 'timeout', now());
    vi.advanceTimersByTime(500);
    circuit.beginProbe(now());
    // A cancelled probe (caller abort, hedge lost) decides nothing: the next call probes.
    circuit.release(true);
    expect(circuit.state).toBe('half-open');
    expect(circuit.admit(now())).toBe('probe');
    circuit.beginProbe(now());
    expect(circuit.failure(true, 'HTTP 500', now())).toMatchObject({
      state: 'open',
      reason: 'probe failed: HTTP 500',
    });
    expect(circuit.admit(now())).toBe('skip');
    vi.advanceTimersByTime(500);
    expect(circuit.admit(now())).toBe('probe');
  });

  it('opens on the error rate once enough calls were seen in the window', () => {
    const board = new BreakerBoard({
      defaults: { consecutiveFailures: 0, errorRate: 0.5, minCalls: 10, sampleMs: 10_000 },
    });
    const circuit = board.get('model', 'm');
    // Alternating results: never 2 in a row, but 5 failures of 9 calls is not yet enough calls.
    for (let i = 0; i < 9; i++) {
      if (i % 2 === 0) circuit.failure(false, 'HTTP 500', now());
      else circuit.success(false);
      vi.advanceTimersByTime(100);
    }
    expect(circuit.state).toBe('closed');
    // The 10th call: 6 of 10 failed, over 50%.
    expect(circuit.failure(false, 'HTTP 500', now())?.reason).toContain('error rate over 50% in 10000 ms');
  });

  it('never opens when turned off', () => {
    const board = new BreakerBoard();
    const circuit = board.get('model', 'm', { enabled: false });
    for (let i = 0; i < 100; i++) circuit.failure(false, 'HTTP 500', now());
    expect(circuit.admit(now())).toBe('pass');
  });

  it('keeps its state through toJSON and initialState; a half-open breaker may probe at once', () => {
    const board = new BreakerBoard({
      defaults: { consecutiveFailures: 2, errorRate: 0, halfOpenAfterMs: 60_000 },
    });
    board.get('model', 'a').failure(false, 'x', now());
    board.get('model', 'a').failure(false, 'x', now());
    board.get('model', 'b').failure(false, 'x', now());
    const saved = JSON.parse(JSON.stringify(board.toJSON()));
    const restored = new BreakerBoard({
      defaults: { consecutiveFailures: 2, errorRate: 0, halfOpenAfterMs: 60_000 },
      initialState: saved,
    });
    expect(restored.get('model', 'a').admit(now())).toBe('skip');
    // b had one failure: one more opens it.
    restored.get('model', 'b').failure(false, 'x', now());
    expect(restored.get('model', 'b').state).toBe('open');

    vi.advanceTimersByTime(60_000);
    board.get('model', 'a').beginProbe(now());
    const again = new BreakerBoard({ initialState: board.toJSON() });
    expect(again.get('model', 'a').admit(now())).toBe('probe');
  });

  it('reports every breaker for /health', () => {
    const board = new BreakerBoard({ defaults: { consecutiveFailures: 1 } });
    board.get('provider', 'openai https://api.openai.com/v1');
    board.get('model', 'm').failure(false, 'HTTP 500', now());
    expect(board.states()).toEqual([
      {
        scope: 'provider',
        key: 'openai https://api.openai.com/v1',
        state: 'closed',
        since: expect.any(String),
        consecutiveFailures: 0,
      },
      {
        scope: 'model',
        key: 'm',
        state: 'open',
        since: new Date(now()).toISOString(),
        reason: expect.stringContaining('HTTP 500'),
        probeInMs: defaultBreakerOptions.halfOpenAfterMs,
        consecutiveFailures: 1,
      },
    ]);
  });

  it("gives a provider breaker the first model's options with twice its thresholds, unless set", () => {
    const board = new BreakerBoard();
    const provider = board.get('provider', 'openai x', {
      consecutiveFailures: 2,
      errorRate: 0,
      halfOpenAfterMs: 100,
    });
    // A second model of the provider does not change it.
    board.get('provider', 'openai x', { consecutiveFailures: 50 });
    for (let i = 0; i < 3; i++) provider.failure(false, 'HTTP 500', now());
    expect(provider.state).toBe('closed');
    provider.failure(false, 'HTTP 500', now());
    expect(provider.state).toBe('open');
    vi.advanceTimersByTime(100);
    expect(provider.admit(now())).toBe('probe');

    const fixed = new BreakerBoard({ provider: { consecutiveFailures: 1 } });
    fixed.get('provider', 'p', { consecutiveFailures: 9 }).failure(false, 'x', now());
    expect(fixed.get('provider', 'p').state).toBe('open');
  });

  it('refuses bad options with the option named', () => {
    expect(() => new BreakerBoard({ defaults: { errorRate: 1.5 } })).toThrow(/breaker defaults\.errorRate/);
    const board = new BreakerBoard();
    expect(() => board.get('model', 'm', { consecutiveFailures: -1 })).toThrow(
      /ModelEntry\["m"\]\.breaker\.consecutiveFailures must be an integer ≥ 0/,
    );
  });

  it('is a state machine that only opens on failures and only closes on a probe success (property)', () => {
    type Step = 'fail' | 'ok' | 'wait' | 'probe-ok' | 'probe-fail' | 'probe-cancel';
    const step = fc.constantFrom<Step>('fail', 'ok', 'wait', 'probe-ok', 'probe-fail', 'probe-cancel');
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const board = new BreakerBoard({
          defaults: { ...defaultBreakerOptions, consecutiveFailures: 3, errorRate: 0, halfOpenAfterMs: 100 },
        });
        const circuit = board.get('model', 'm');
        let consecutive = 0;
        for (const s of steps) {
          const before = circuit.state;
          const admission = circuit.admit(now());
          if (s === 'wait') vi.advanceTimersByTime(100);
          else if (s === 'fail' && admission === 'pass') {
            circuit.failure(false, 'x', now());
            consecutive += 1;
            expect(circuit.state).toBe(consecutive >= 3 ? 'open' : 'closed');
            if (consecutive >= 3) consecutive = 0;
          } else if (s === 'ok' && admission === 'pass') {
            circuit.success(false);
            consecutive = 0;
          } else if (s.startsWith('probe') && admission === 'probe') {
            circuit.beginProbe(now());
            expect(circuit.state).toBe('half-open');
            if (s === 'probe-ok') circuit.success(true);
            else if (s === 'probe-fail') circuit.failure(true, 'x', now());
            else circuit.release(true);
            expect(circuit.state).toBe(
              s === 'probe-ok' ? 'closed' : s === 'probe-fail' ? 'open' : 'half-open',
            );
            consecutive = 0;
          } else {
            // Calls the breaker refused change nothing.
            expect(circuit.state).toBe(before);
          }
          // An open breaker never lets a plain call through.
          if (circuit.state !== 'closed') expect(circuit.admit(now())).not.toBe('pass');
        }
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});
