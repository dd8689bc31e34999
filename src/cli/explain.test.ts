import { describe, expect, it } from 'vitest';
import type { RunEvent, RunEventBody } from '../runtime/events.ts';
import { type ExplainNode, explainRun, formatMs, renderExplainText } from './explain.ts';

/** Builds journaled events: `attempt` is the run attempt, `seq` restarts per attempt as in the journal. */
function journal() {
  const events: Array<RunEvent & { attempt: number }> = [];
  let attempt = 1;
  let seq = 0;
  let ts = 1_000;
  return {
    events,
    attempt(n: number) {
      attempt = n;
      seq = 0;
    },
    emit(path: string[], body: RunEventBody) {
      events.push({ v: 1, runId: 'run_1', seq: seq++, ts: ts++, path, ...body, attempt } as RunEvent & {
        attempt: number;
      });
    },
  };
}

const usage = (tokens: number, costUsd = 0) => ({
  inputTokens: tokens,
  outputTokens: tokens,
  costUsd,
  modelCalls: 1,
});
const err = (code: string, message: string) => ({ code, message, isRetryable: false });

function child(n: ExplainNode, name: string): ExplainNode {
  const found = n.children.find((c) => c.name === name);
  if (!found)
    throw new Error(`no child ${name} under ${n.name}: ${n.children.map((c) => c.name).join(', ')}`);
  return found;
}

describe('explainRun', () => {
  it('builds the tree by path with models, the model that answered, retries, fallbacks, tools and decisions', () => {
    const j = journal();
    const C = ['Support'];
    const A = ['Support', 'Triage'];
    j.emit(C, { type: 'run-start', council: 'Support', input: 'where is my order?' });
    j.emit(C, { type: 'decision', kind: 'route', chosen: 'Triage', reason: 'rule /order/ matched' });
    j.emit(A, { type: 'agent-start', agent: 'Triage', model: 'gpt', input: 'where is my order?' });
    j.emit(A, { type: 'model-call-start', model: 'gpt', provider: 'openai', attempt: 1, stream: true });
    j.emit(A, {
      type: 'model-call-error',
      model: 'gpt',
      provider: 'openai',
      error: err('provider_error', '429 slow down'),
      latencyMs: 5,
    });
    j.emit(A, { type: 'model-retry', model: 'gpt', attempt: 2, delayMs: 1000, reason: '429 slow down' });
    j.emit(A, { type: 'model-call-start', model: 'gpt', provider: 'openai', attempt: 2, stream: true });
    j.emit(A, {
      type: 'model-call-error',
      model: 'gpt',
      provider: 'openai',
      error: err('provider_error', '500 boom'),
      latencyMs: 7,
    });
    j.emit(A, { type: 'model-fallback', from: 'gpt', to: 'backup', reason: '500 boom' });
    j.emit(A, { type: 'model-call-start', model: 'backup', provider: 'compat', attempt: 1, stream: true });
    j.emit(A, {
      type: 'model-call-finish',
      model: 'backup',
      provider: 'compat',
      inputTokens: 10,
      outputTokens: 4,
      costUsd: 0.001,
      latencyMs: 30,
    });
    j.emit(A, { type: 'tool-call-start', tool: 'NLU', toolCallId: 't1', input: { text: 'x' } });
    j.emit(A, {
      type: 'tool-call-finish',
      tool: 'NLU',
      toolCallId: 't1',
      output: { intent: 'order' },
      durationMs: 2,
    });
    j.emit(A, { type: 'tool-call-start', tool: 'Search', toolCallId: 't2', input: { q: 'order' } });
    j.emit(A, {
      type: 'tool-call-error',
      tool: 'Search',
      toolCallId: 't2',
      error: err('skill_failed', 'index down'),
      durationMs: 3,
    });
    j.emit(A, {
      type: 'agent-finish',
      agent: 'Triage',
      output: 'It ships today.',
      usage: usage(14, 0.001),
      durationMs: 50,
    });
    j.emit(C, { type: 'run-finish', output: 'It ships today.', usage: usage(14, 0.001), durationMs: 60 });

    const root = explainRun(j.events);
    expect(root).toMatchObject({
      name: 'Support',
      kind: 'council',
      status: 'succeeded',
      input: 'where is my order?',
      output: 'It ships today.',
      durationMs: 60,
      run: { runId: 'run_1', council: 'Support', attempts: [{ attempt: 1, journaledSteps: 0, replayed: 0 }] },
    });
    expect(root.decisions).toEqual([
      { kind: 'route', chosen: 'Triage', reason: 'rule /order/ matched', replayed: false, attempt: 1 },
    ]);
    const triage = child(root, 'Triage');
    expect(triage).toMatchObject({ status: 'succeeded', model: 'gpt', answeredBy: 'backup', path: A });
    expect(triage.models).toEqual([
      expect.objectContaining({ model: 'gpt', calls: 2, answered: 0, failed: 2, latencyMs: 12 }),
      expect.objectContaining({
        model: 'backup',
        calls: 1,
        answered: 1,
        inputTokens: 10,
        outputTokens: 4,
        costUsd: 0.001,
      }),
    ]);
    expect(triage.retries).toEqual([{ model: 'gpt', delayMs: 1000, reason: '429 slow down', attempt: 1 }]);
    expect(triage.fallbacks).toEqual([{ from: 'gpt', to: 'backup', reason: '500 boom', attempt: 1 }]);
    expect(triage.tools).toEqual([
      expect.objectContaining({
        tool: 'NLU',
        status: 'succeeded',
        output: { intent: 'order' },
        durationMs: 2,
      }),
      expect.objectContaining({ tool: 'Search', status: 'failed', error: err('skill_failed', 'index down') }),
    ]);
  });

  it('nests sub-agents under their parent and keeps spawns, trigger decisions and limits', () => {
    const j = journal();
    j.emit(['C'], { type: 'run-start', council: 'C', input: 'q' });
    j.emit(['C', 'W'], { type: 'agent-start', agent: 'W', model: 'm', input: 'q' });
    j.emit(['C', 'W'], { type: 'agent-finish', agent: 'W', output: 'meh', usage: usage(1), durationMs: 1 });
    j.emit(['C', 'W'], { type: 'decision', kind: 'trigger', chosen: 'ReAsk', reason: 'confidence=0.2' });
    j.emit(['C', 'W'], { type: 'subagent-spawn', agent: 'W#2', depth: 1, input: 'again' });
    j.emit(['C', 'W', 'W#2'], { type: 'agent-start', agent: 'W', model: 'm', input: 'again' });
    j.emit(['C', 'W', 'W#2', 'Helper'], { type: 'agent-start', agent: 'Helper', model: 'm', input: 'h' });
    j.emit(['C', 'W', 'W#2'], { type: 'limit-exceeded', limit: 'maxDepth', limitValue: 1, used: 2 });
    j.emit(['C', 'W', 'W#2', 'Helper'], {
      type: 'agent-error',
      agent: 'Helper',
      error: err('aborted', 'stop'),
    });
    j.emit(['C', 'W', 'W#2'], { type: 'agent-error', agent: 'W', error: err('limit_exceeded', 'tokens') });
    j.emit(['C'], { type: 'limit-exceeded', limit: 'tokens', limitValue: 10, used: 12 });
    j.emit(['C'], {
      type: 'run-error',
      error: err('limit_exceeded', 'tokens limit 10 reached'),
      usage: usage(6),
      durationMs: 9,
    });

    const root = explainRun(j.events);
    expect(root.status).toBe('limit_exceeded');
    expect(root.error?.code).toBe('limit_exceeded');
    expect(root.limits).toEqual([{ limit: 'tokens', limitValue: 10, used: 12, attempt: 1 }]);
    const w = child(root, 'W');
    expect(w.decisions[0]).toMatchObject({ kind: 'trigger', chosen: 'ReAsk' });
    expect(w.spawns).toEqual([{ agent: 'W#2', depth: 1, input: 'again', attempt: 1 }]);
    const w2 = child(w, 'W#2');
    expect(w2).toMatchObject({
      status: 'failed',
      path: ['C', 'W', 'W#2'],
      error: { code: 'limit_exceeded' },
    });
    expect(w2.limits).toEqual([{ limit: 'maxDepth', limitValue: 1, used: 2, attempt: 1 }]);
    expect(child(w2, 'Helper').status).toBe('failed');
  });

  it('follows a run over attempts: what was in flight is interrupted, replays are listed per attempt', () => {
    const j = journal();
    j.emit(['C'], { type: 'run-start', council: 'C', input: 'q' });
    j.emit(['C', 'A'], { type: 'agent-start', agent: 'A', model: 'm', input: 'q' });
    j.emit(['C', 'A'], { type: 'agent-finish', agent: 'A', output: 'a', usage: usage(1), durationMs: 1 });
    j.emit(['C', 'B'], { type: 'agent-start', agent: 'B', model: 'm', input: 'a' });
    j.emit(['C', 'B'], { type: 'tool-call-start', tool: 'Pay', toolCallId: 'p1', input: { amount: 5 } });
    // The process dies here; attempt 2 resumes.
    j.attempt(2);
    j.emit(['C'], { type: 'run-start', council: 'C', input: 'q' });
    j.emit(['C'], { type: 'run-resume', attempt: 2, journaledSteps: 2 });
    j.emit(['C', 'A'], { type: 'step-replayed', key: 'C/A' });
    j.emit(['C'], {
      type: 'decision',
      kind: 'merge',
      chosen: 'join',
      reason: 'joined',
      detail: { replayed: true },
    });
    j.emit(['C', 'B'], { type: 'agent-start', agent: 'B', model: 'm', input: 'a' });
    j.emit(['C', 'B'], { type: 'model-call-start', model: 'm', provider: 'sim', attempt: 2, stream: false });
    j.emit(['C', 'B'], { type: 'step-replayed', key: 'C/B/call1' });

    const running = explainRun(j.events);
    expect(running.status).toBe('running');
    expect(child(running, 'B').status).toBe('running');
    expect(running.run?.attempts).toEqual([
      { attempt: 1, journaledSteps: 0, replayed: 0 },
      { attempt: 2, journaledSteps: 2, replayed: 2 },
    ]);
    const b = child(running, 'B');
    expect(b.attempts).toEqual([1, 2]);
    // The tool call of the dead attempt never finished; the model-call-start's own `attempt` is not the run's.
    expect(b.tools).toEqual([expect.objectContaining({ tool: 'Pay', status: 'running', attempt: 1 })]);
    expect(b.models[0]).toMatchObject({ model: 'm', calls: 1 });
    expect(b.replayed).toEqual([{ attempt: 2, keys: ['C/B/call1'] }]);
    expect(child(running, 'A')).toMatchObject({
      status: 'succeeded',
      replayed: [{ attempt: 2, keys: ['C/A'] }],
    });
    expect(running.decisions[0]).toMatchObject({ kind: 'merge', replayed: true, attempt: 2 });

    // Its second process died too: the journal still says running, but nobody runs it.
    const dead = explainRun(j.events, { interrupted: true });
    expect(dead.status).toBe('interrupted');
    expect(child(dead, 'B').status).toBe('interrupted');

    j.emit(['C', 'B'], { type: 'agent-finish', agent: 'B', output: 'b', usage: usage(2), durationMs: 3 });
    j.emit(['C'], { type: 'run-finish', output: 'b', usage: usage(3), durationMs: 4 });
    const done = explainRun(j.events);
    expect(done.status).toBe('succeeded');
    expect(child(done, 'B')).toMatchObject({ status: 'succeeded', output: 'b' });
  });

  it('marks an agent of attempt 1 interrupted once attempt 2 starts, and takes events without attempts from run-resume', () => {
    const j = journal();
    j.emit(['C'], { type: 'run-start', council: 'C', input: 'q' });
    j.emit(['C', 'A'], { type: 'agent-start', agent: 'A', model: 'm', input: 'q' });
    j.attempt(2);
    j.emit(['C'], { type: 'run-start', council: 'C', input: 'q' });
    j.emit(['C'], { type: 'run-resume', attempt: 2, journaledSteps: 0 });
    j.emit(['C'], { type: 'run-error', error: err('aborted', 'stopped'), usage: usage(0), durationMs: 1 });
    const withAttempts = explainRun(j.events);
    expect(withAttempts.status).toBe('aborted');
    expect(child(withAttempts, 'A')).toMatchObject({ status: 'interrupted', attempts: [1] });

    // Live events (Run.events) carry no run attempt: run-resume's own field says which one follows.
    const live = explainRun(
      j.events.map((e) => {
        if (e.type === 'run-resume') return e;
        const { attempt: _attempt, ...rest } = e;
        return rest as RunEvent;
      }),
    );
    expect(child(live, 'A').status).toBe('interrupted');
    expect(live.run?.attempts.map((a) => a.attempt)).toEqual([1, 2]);
  });

  it('refuses an empty event list with a journal_error', () => {
    expect(() => explainRun([])).toThrow(expect.objectContaining({ code: 'journal_error' }));
  });
});

describe('renderExplainText', () => {
  const j = journal();
  j.emit(['C'], { type: 'run-start', council: 'C', input: 'q' });
  j.emit(['C'], { type: 'decision', kind: 'route', chosen: 'A', reason: 'rule' });
  j.emit(['C', 'A'], { type: 'agent-start', agent: 'A', model: 'm', input: 'q' });
  j.emit(['C', 'A'], { type: 'model-fallback', from: 'm', to: 'n', reason: 'down' });
  j.emit(['C', 'A', 'Sub'], { type: 'agent-start', agent: 'Sub', model: 'n', input: 's' });
  j.emit(['C', 'A', 'Sub'], {
    type: 'agent-finish',
    agent: 'Sub',
    output: 's',
    usage: usage(1),
    durationMs: 1,
  });
  j.emit(['C', 'A'], {
    type: 'agent-finish',
    agent: 'A',
    output: 'done',
    usage: usage(2, 0.5),
    durationMs: 2,
  });
  j.emit(['C'], { type: 'run-finish', output: 'done', usage: usage(2, 0.5), durationMs: 2 });
  const root = explainRun(j.events);

  it('draws an indented tree with ├─, └─ and │, and no escape codes off a TTY', () => {
    const text = renderExplainText(root);
    expect(text).not.toContain('\x1b[');
    const lines = text.split('\n');
    expect(lines[0]).toBe('▶ C run_1 succeeded · 2 ms · 4 tokens · 1 model call · $0.500000');
    expect(text).toContain('├─ ◆ route: A — rule\n└─ ● A succeeded on m\n');
    expect(text).toContain('   ├─ ↪ fallback m → n: down\n');
    expect(text).toMatch(/ {3}└─ ● Sub succeeded on n\n {6}├─ output: s\n/);
    expect(text).toContain('Output done');
  });

  it('colours only on a TTY', () => {
    expect(renderExplainText(root, { tty: true })).toContain('\x1b[32msucceeded\x1b[39m');
  });
});

describe('formatMs', () => {
  it('picks a unit a person reads at a glance', () => {
    expect([formatMs(850), formatMs(12_345), formatMs(245_000), formatMs(7_380_000)]).toEqual([
      '850 ms',
      '12.3 s',
      '4m 05s',
      '2h 03m',
    ]);
  });
});
