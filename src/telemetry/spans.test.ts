import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_REQUEST_STREAM,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_SYSTEM,
  ATTR_GEN_AI_TOOL_CALL_ID,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_GEN_AI_WORKFLOW_NAME,
  GEN_AI_OPERATION_NAME_VALUE_CHAT,
  GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL,
  GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT,
  GEN_AI_OPERATION_NAME_VALUE_INVOKE_WORKFLOW,
} from '@opentelemetry/semantic-conventions/incubating';
import { afterEach, describe, expect, it } from 'vitest';
import { EventLog, emptyUsage } from '../runtime/events.ts';
import { createSpanRecorder, genAiAttributes, genAiOperations, genAiProviderName } from './spans.ts';

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const tracer = provider.getTracer('test');

afterEach(() => exporter.reset());

function recorded(runId = 'run_1') {
  const recorder = createSpanRecorder({
    tracer,
    modelName: (id) => (id === 'gpt' ? 'gpt-4o-2024-08-06' : undefined),
  });
  const log = new EventLog(runId);
  log.subscribe((event) => recorder.observe(event));
  return { recorder, log };
}

const spans = () => exporter.getFinishedSpans();
const named = (name: string): ReadableSpan => {
  const found = spans().filter((s) => s.name === name);
  expect(found, `one span named ${name}`).toHaveLength(1);
  return found[0] as ReadableSpan;
};
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const ms = (time: readonly [number, number]) => time[0] * 1000 + time[1] / 1e6;
const error = (code: string) => ({ code, message: `${code} happened`, isRetryable: false });

describe('span recorder', () => {
  it('uses the GenAI semantic-convention names', () => {
    expect(genAiAttributes).toMatchObject({
      operationName: ATTR_GEN_AI_OPERATION_NAME,
      providerName: ATTR_GEN_AI_PROVIDER_NAME,
      system: ATTR_GEN_AI_SYSTEM,
      requestModel: ATTR_GEN_AI_REQUEST_MODEL,
      requestStream: ATTR_GEN_AI_REQUEST_STREAM,
      responseModel: ATTR_GEN_AI_RESPONSE_MODEL,
      inputTokens: ATTR_GEN_AI_USAGE_INPUT_TOKENS,
      outputTokens: ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
      agentName: ATTR_GEN_AI_AGENT_NAME,
      workflowName: ATTR_GEN_AI_WORKFLOW_NAME,
      toolName: ATTR_GEN_AI_TOOL_NAME,
      toolCallId: ATTR_GEN_AI_TOOL_CALL_ID,
      errorType: ATTR_ERROR_TYPE,
    });
    expect(genAiOperations).toEqual({
      run: GEN_AI_OPERATION_NAME_VALUE_INVOKE_WORKFLOW,
      agent: GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT,
      modelCall: GEN_AI_OPERATION_NAME_VALUE_CHAT,
      toolCall: GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL,
    });
    expect(genAiProviderName('openai.responses')).toBe('openai');
    expect(genAiProviderName('anthropic.messages')).toBe('anthropic');
    expect(genAiProviderName('google.generative-ai')).toBe('gcp.gemini');
    expect(genAiProviderName('simulated')).toBe('simulated');
  });

  it('nests run, agent, step, model calls, tools and a sub-agent spawned by a tool by event path', () => {
    const { log, recorder } = recorded();
    log.emit(['C'], { type: 'run-start', council: 'C', input: 'hi' });
    log.emit(['C', 'A'], { type: 'agent-start', agent: 'A', model: 'gpt', input: 'hi' });
    log.emit(['C', 'A'], { type: 'step-start', step: 1 });
    log.emit(['C', 'A'], {
      type: 'model-call-start',
      model: 'gpt',
      provider: 'openai.chat',
      attempt: 1,
      stream: true,
    });
    log.emit(['C', 'A'], {
      type: 'model-call-error',
      model: 'gpt',
      provider: 'openai.chat',
      error: error('server_error'),
      latencyMs: 40,
    });
    log.emit(['C', 'A'], {
      type: 'model-fallback',
      from: 'gpt',
      to: 'claude',
      reason: 'server_error happened',
    });
    log.emit(['C', 'A'], {
      type: 'model-call-start',
      model: 'claude',
      provider: 'anthropic.messages',
      attempt: 2,
      stream: true,
    });
    const finish = log.emit(['C', 'A'], {
      type: 'model-call-finish',
      model: 'claude',
      provider: 'anthropic.messages',
      inputTokens: 12,
      outputTokens: 5,
      costUsd: 0.001,
      latencyMs: 250,
    });
    log.emit(['C', 'A'], { type: 'tool-call-start', tool: 'Delegate', toolCallId: 't1', input: {} });
    log.emit(['C', 'A'], { type: 'subagent-spawn', agent: 'Sub', depth: 1, input: 'x' });
    log.emit(['C', 'A', 'Sub'], { type: 'agent-start', agent: 'Sub', model: 'claude', input: 'x' });
    log.emit(['C', 'A', 'Sub'], { type: 'step-start', step: 1 });
    log.emit(['C', 'A', 'Sub'], {
      type: 'model-call-finish',
      model: 'claude',
      provider: 'anthropic.messages',
      inputTokens: 3,
      outputTokens: 2,
      costUsd: 0,
      latencyMs: 1,
    });
    log.emit(['C', 'A', 'Sub'], { type: 'step-finish', step: 1, finishReason: 'stop', text: 'y' });
    log.emit(['C', 'A', 'Sub'], {
      type: 'agent-finish',
      agent: 'Sub',
      output: 'y',
      usage: emptyUsage(),
      durationMs: 2,
    });
    log.emit(['C', 'A'], {
      type: 'tool-call-finish',
      tool: 'Delegate',
      toolCallId: 't1',
      output: 'y',
      durationMs: 3,
    });
    log.emit(['C', 'A'], { type: 'step-finish', step: 1, finishReason: 'tool-calls', text: '' });
    const usage = { inputTokens: 15, outputTokens: 7, costUsd: 0.001, modelCalls: 2 };
    log.emit(['C', 'A'], { type: 'agent-finish', agent: 'A', output: 'done', usage, durationMs: 9 });
    log.emit(['C'], { type: 'run-finish', output: 'done', usage, durationMs: 10 });
    expect(recorder.openRuns).toBe(0);

    const run = named('invoke_workflow C');
    const agent = named('invoke_agent A');
    const steps = spans().filter((s) => s.name === 'step 1');
    const step = steps.find((s) => parentOf(s) === idOf(agent)) as ReadableSpan;
    const failed = named('chat gpt-4o-2024-08-06');
    const answered = spans().filter((s) => s.name === 'chat claude');
    const tool = named('execute_tool Delegate');
    const sub = named('invoke_agent Sub');
    const subStep = steps.find((s) => parentOf(s) === idOf(sub)) as ReadableSpan;

    expect(spans()).toHaveLength(9);
    expect(run.parentSpanContext).toBeUndefined();
    expect(run.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_workflow',
      'gen_ai.workflow.name': 'C',
      'forge.run.id': 'run_1',
      'gen_ai.usage.input_tokens': 15,
      'gen_ai.usage.output_tokens': 7,
    });
    expect(run.status.code).toBe(SpanStatusCode.UNSET);
    expect(parentOf(agent)).toBe(idOf(run));
    expect(agent.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'A',
      'gen_ai.request.model': 'gpt-4o-2024-08-06',
    });
    expect(parentOf(step)).toBe(idOf(agent));
    expect(step.attributes['gen_ai.response.finish_reasons']).toEqual(['tool-calls']);

    // The failed attempt and the fallback are sibling model-call spans of the step.
    expect(parentOf(failed)).toBe(idOf(step));
    expect(failed.kind).toBe(SpanKind.CLIENT);
    expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'server_error happened' });
    expect(failed.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.system': 'openai',
      'gen_ai.request.model': 'gpt-4o-2024-08-06',
      'gen_ai.request.stream': true,
      'forge.model.id': 'gpt',
      'forge.model.attempt': 1,
      'error.type': 'server_error',
    });
    expect(failed.attributes['gen_ai.usage.input_tokens']).toBeUndefined();
    const ok = answered.find((s) => parentOf(s) === idOf(step)) as ReadableSpan;
    expect(ok.attributes).toMatchObject({
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'claude',
      'gen_ai.response.model': 'claude',
      'gen_ai.usage.input_tokens': 12,
      'gen_ai.usage.output_tokens': 5,
      'forge.cost_usd': 0.001,
      'forge.model.attempt': 2,
    });
    expect(ok.status.code).toBe(SpanStatusCode.UNSET);
    // The span covers the provider's latency, ending when the attempt finished.
    expect(ms(ok.endTime)).toBe(finish.ts);
    expect(ms(ok.endTime) - ms(ok.startTime)).toBe(250);
    expect(step.events.map((e) => e.name)).toContain('forge.model.fallback');

    expect(parentOf(tool)).toBe(idOf(step));
    expect(tool.attributes).toMatchObject({
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'Delegate',
      'gen_ai.tool.call.id': 't1',
    });
    expect(tool.events.map((e) => e.name)).toContain('forge.subagent.spawn');
    // The sub-agent nests under the tool call that spawned it; its model call under its step.
    expect(parentOf(sub)).toBe(idOf(tool));
    expect(parentOf(subStep)).toBe(idOf(sub));
    expect(answered.some((s) => parentOf(s) === idOf(subStep))).toBe(true);
    expect(new Set(spans().map((s) => s.spanContext().traceId)).size).toBe(1);
  });

  it('sets error status on the step, agent and run that failed, and ends spans left open', () => {
    const { log } = recorded();
    log.emit(['C'], { type: 'run-start', council: 'C', input: 'hi' });
    log.emit(['C', 'A'], { type: 'agent-start', agent: 'A', model: 'm', input: 'hi' });
    log.emit(['C', 'A'], { type: 'step-start', step: 1 });
    log.emit(['C', 'A'], { type: 'tool-call-start', tool: 'Slow', toolCallId: 't1', input: {} });
    // Input that failed the schema: no start, still a span.
    log.emit(['C', 'A'], {
      type: 'tool-call-error',
      tool: 'Typo',
      toolCallId: 't2',
      error: error('skill_input_invalid'),
      durationMs: 0,
    });
    log.emit(['C', 'A'], { type: 'agent-error', agent: 'A', error: error('provider_error') });
    log.emit(['C'], {
      type: 'run-error',
      error: error('provider_error'),
      usage: emptyUsage(),
      durationMs: 5,
    });

    for (const name of [
      'invoke_workflow C',
      'invoke_agent A',
      'step 1',
      'execute_tool Slow',
      'execute_tool Typo',
    ]) {
      expect(named(name).status.code, name).toBe(SpanStatusCode.ERROR);
      expect(named(name).ended, name).toBe(true);
    }
    expect(named('execute_tool Typo').attributes['error.type']).toBe('skill_input_invalid');
    expect(parentOf(named('execute_tool Typo'))).toBe(idOf(named('step 1')));
    expect(named('invoke_workflow C').attributes['error.type']).toBe('provider_error');
  });

  it('records a run refused before it started as one failed span', () => {
    const { log, recorder } = recorded();
    log.emit(['Nope'], {
      type: 'run-error',
      error: error('unknown_council'),
      usage: emptyUsage(),
      durationMs: 0,
    });
    expect(named('invoke_workflow Nope').status.code).toBe(SpanStatusCode.ERROR);
    expect(recorder.openRuns).toBe(0);
  });

  it('keeps parallel agents apart and ends everything open at close()', () => {
    const { log, recorder } = recorded();
    log.emit(['C'], { type: 'run-start', council: 'C', input: 'hi' });
    log.emit(['C', 'A'], { type: 'agent-start', agent: 'A', model: 'm', input: 'hi' });
    log.emit(['C', 'B'], { type: 'agent-start', agent: 'B', model: 'm', input: 'hi' });
    log.emit(['C', 'A'], { type: 'step-start', step: 1 });
    log.emit(['C', 'B'], { type: 'step-start', step: 1 });
    log.emit(['C', 'B'], { type: 'step-finish', step: 1, finishReason: 'stop', text: '' });
    log.emit(['C', 'B'], {
      type: 'agent-finish',
      agent: 'B',
      output: '',
      usage: emptyUsage(),
      durationMs: 1,
    });
    expect(spans().map((s) => s.name)).toEqual(['step 1', 'invoke_agent B']);
    expect(parentOf(spans()[0] as ReadableSpan)).toBe(idOf(named('invoke_agent B')));
    expect(recorder.openRuns).toBe(1);
    recorder.close();
    expect(recorder.openRuns).toBe(0);
    expect(named('invoke_agent A').status.code).toBe(SpanStatusCode.ERROR);
    expect(named('invoke_workflow C').status.message).toBe('telemetry closed');
    expect(spans()).toHaveLength(5);
  });

  it('tracks nothing of a run whose span does not record (sampled out, or no tracer provider)', () => {
    const off = new TracerProvider({
      sampler: new AlwaysOffSampler(),
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
    });
    const recorder = createSpanRecorder({ tracer: off.getTracer('test') });
    const log = new EventLog('run_off');
    log.subscribe((event) => recorder.observe(event));
    log.emit(['C'], { type: 'run-start', council: 'C', input: 'hi' });
    log.emit(['C', 'A'], { type: 'agent-start', agent: 'A', model: 'gpt', input: 'hi' });
    expect(recorder.openRuns).toBe(1);
    log.emit(['C'], { type: 'run-error', error: error('failed'), usage: emptyUsage(), durationMs: 1 });
    expect(recorder.openRuns).toBe(0);
    // Not even the span a run refused before it started leaves.
    expect(spans()).toEqual([]);
  });

  it('ignores token deltas and events of unknown runs', () => {
    const { log } = recorded();
    log.emit(['C', 'A'], { type: 'token-delta', delta: 'x' });
    log.emit(['C', 'A'], { type: 'step-start', step: 1 });
    expect(spans()).toHaveLength(0);
  });
});
