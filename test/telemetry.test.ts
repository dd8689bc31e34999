// Telemetry end to end (issue 5, items 11 and 12): spans of real runs through the global tracer
// provider, Prometheus metrics scraped from a real /metrics endpoint on the health app, the cost
// ledger per attempt, every metric the Grafana dashboard and the alert rules name really exported,
// the rules checked by promtool, and the OpenTelemetry SDK kept out of library code paths.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import {
  createHealthApp,
  Harness,
  installTelemetry,
  metricNames,
  metricsResponse,
  type RunResult,
  registerProviderType,
  Skill,
  type Telemetry,
} from 'forge-harness';
import { FakeProviderServer, ScriptedModel } from 'forge-harness/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const root = fileURLToPath(new URL('..', import.meta.url));
const spanExporter = new InMemorySpanExporter();
const tracerProvider = new TracerProvider({
  spanProcessors: [new SimpleSpanProcessor({ exporter: spanExporter })],
});

const lookupCalls: string[] = [];
const lookup = new Skill({
  name: 'Lookup',
  description: 'Looks an order up.',
  input: z.object({ id: z.string() }),
  cache: { size: 10, ttlMs: 60_000 },
  run: ({ id }) => {
    lookupCalls.push(id);
    return { id, status: 'shipped' };
  },
});

// Resolver asks for the same order twice in one step (the second is a cache hit), then answers.
const resolverScript = new ScriptedModel({
  steps: [1, 2].flatMap((n) => [
    {
      toolCalls: [
        { toolName: 'Lookup', input: { id: `o${n}` } },
        { toolName: 'Lookup', input: { id: `o${n}` } },
      ],
    },
    { text: `order o${n} has shipped`, usage: { inputTokens: 30, outputTokens: 6 } },
  ]),
});
registerProviderType('scripted-telemetry', { create: () => resolverScript });

let fake: FakeProviderServer;
let harness: Harness;
let telemetry: Telemetry;
let server: ReturnType<typeof serve>;
let base: string;
const results: RunResult[] = [];
let scraped = '';

beforeAll(async () => {
  trace.setGlobalTracerProvider(tracerProvider);
  fake = await FakeProviderServer.start();
  const prices = { input: 1, output: 4 };
  harness = new Harness({
    models: [
      {
        id: 'primary',
        type: 'openai',
        api: 'chat',
        model: 'gpt-4o-mini',
        apiKey: 'sk-telemetry-1234',
        endpoint: fake.baseUrl('openai'),
        pricePerMtok: prices,
      },
      {
        id: 'backup',
        type: 'anthropic',
        model: 'claude-haiku',
        apiKey: 'sk-ant-telemetry-1234',
        endpoint: fake.baseUrl('anthropic'),
        pricePerMtok: prices,
      },
      { id: 'tooler', type: 'scripted-telemetry', pricePerMtok: prices },
    ],
    skills: [lookup],
    councils: [
      {
        name: 'Support',
        agents: [
          { name: 'Triage', model: 'primary', fallback: ['backup'] },
          { name: 'Resolver', model: 'tooler', skills: ['Lookup'] },
        ],
      },
      { name: 'Broken', agents: [{ name: 'Doomed', model: 'primary' }] },
    ],
    memory: 'memory://',
    journal: false,
    retry: { maxRetries: 1, baseDelayMs: 5, maxDelayMs: 20 },
  });
  telemetry = installTelemetry(harness);
  const app = createHealthApp(harness, {
    models: false,
    routes: (hono) => hono.get('/metrics', () => metricsResponse(telemetry.metrics)),
  });
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', resolve)));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // 1: two 503s (one retry), then the fallback answers.
  fake.injectFault({ status: 503, times: 2, match: { provider: 'openai' } });
  results.push(await harness.run('Support', 'Where is order o1?'));
  // 2: a 400 is never retried: one failed attempt, then the fallback.
  fake.injectFault({ status: 400, times: 1, match: { provider: 'openai' } });
  results.push(await harness.run('Support', 'Where is order o2?'));
  // 3: no fallback: the run fails.
  fake.injectFault({ status: 400, times: 1, match: { provider: 'openai' } });
  results.push(await harness.run('Broken', 'Anything?'));
  const response = await fetch(`${base}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  scraped = await response.text();
}, 30_000);

afterAll(async () => {
  telemetry?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await harness?.stop();
  await fake?.close();
  trace.disable();
});

/** Samples of the scraped text as `name{labels} value` → value. */
function samples(
  text: string,
): Map<string, { name: string; labels: Record<string, string>; value: number }[]> {
  const byName = new Map<string, { name: string; labels: Record<string, string>; value: number }[]>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m?.[1]) continue;
    const labels = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]),
    );
    const list = byName.get(m[1]) ?? [];
    list.push({ name: m[1], labels: labels as Record<string, string>, value: Number(m[3]) });
    byName.set(m[1], list);
  }
  return byName;
}

function value(name: string, labels: Record<string, string>): number | undefined {
  return samples(scraped)
    .get(name)
    ?.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

describe('runs', () => {
  it('behaved as scripted', () => {
    expect(results.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'failed']);
    expect(results[0]?.agents.map((a) => a.model)).toEqual(['backup', 'tooler']);
    expect(lookupCalls).toEqual(['o1', 'o2']);
  });
});

describe('spans', () => {
  const traceOf = (runId: string): ReadableSpan[] => {
    const all = spanExporter.getFinishedSpans();
    const rootSpan = all.find((s) => s.attributes['forge.run.id'] === runId);
    expect(rootSpan, `the run span of ${runId}`).toBeDefined();
    return all.filter((s) => s.spanContext().traceId === rootSpan?.spanContext().traceId);
  };
  const id = (s: ReadableSpan | undefined) => s?.spanContext().spanId;

  it('one trace per run: workflow → agents → steps → model attempts and tool calls', () => {
    const spans = traceOf(results[0]?.runId ?? '');
    const byName = (name: string) => spans.filter((s) => s.name === name);
    const [run] = byName('invoke_workflow Support');
    const [triage] = byName('invoke_agent Triage');
    const [resolver] = byName('invoke_agent Resolver');
    expect(run?.parentSpanContext).toBeUndefined();
    expect(run?.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_workflow',
      'gen_ai.workflow.name': 'Support',
    });
    expect(run?.status.code).toBe(SpanStatusCode.UNSET);
    expect(triage?.parentSpanContext?.spanId).toBe(id(run));
    expect(resolver?.parentSpanContext?.spanId).toBe(id(run));
    const triageStep = spans.find((s) => s.name === 'step 1' && s.parentSpanContext?.spanId === id(triage));
    expect(triageStep).toBeDefined();

    // Every attempt of Triage's step: two failed on the primary, then the fallback.
    const attempts = spans
      .filter(
        (s) =>
          s.parentSpanContext?.spanId === id(triageStep) && s.attributes['gen_ai.operation.name'] === 'chat',
      )
      .sort(
        (a, b) => Number(a.attributes['forge.model.attempt']) - Number(b.attributes['forge.model.attempt']),
      );
    expect(attempts.map((s) => [s.name, s.status.code])).toEqual([
      ['chat gpt-4o-mini', SpanStatusCode.ERROR],
      ['chat gpt-4o-mini', SpanStatusCode.ERROR],
      ['chat claude-haiku', SpanStatusCode.UNSET],
    ]);
    expect(attempts[0]?.attributes).toMatchObject({
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'forge.model.id': 'primary',
    });
    expect(attempts[0]?.attributes['error.type']).toEqual(expect.any(String));
    expect(attempts[2]?.attributes).toMatchObject({
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'claude-haiku',
      'gen_ai.response.model': 'claude-haiku',
      'gen_ai.usage.input_tokens': expect.any(Number),
      'gen_ai.usage.output_tokens': expect.any(Number),
    });
    expect(Number(attempts[2]?.attributes['gen_ai.usage.input_tokens'])).toBeGreaterThan(0);
    expect(triageStep?.events.map((e) => e.name)).toEqual(
      expect.arrayContaining(['forge.model.retry', 'forge.model.fallback']),
    );

    const resolverStep = spans.find(
      (s) => s.name === 'step 1' && s.parentSpanContext?.spanId === id(resolver),
    );
    const tools = spans.filter((s) => s.name === 'execute_tool Lookup');
    expect(tools).toHaveLength(2);
    for (const tool of tools) {
      expect(tool.parentSpanContext?.spanId).toBe(id(resolverStep));
      expect(tool.attributes).toMatchObject({
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': 'Lookup',
      });
    }
    expect(spans.every((s) => s.ended)).toBe(true);
  });

  it('a failed run has error status down its agent', () => {
    const spans = traceOf(results[2]?.runId ?? '');
    const run = spans.find((s) => s.name === 'invoke_workflow Broken');
    const agent = spans.find((s) => s.name === 'invoke_agent Doomed');
    expect(run?.status.code).toBe(SpanStatusCode.ERROR);
    expect(agent?.status.code).toBe(SpanStatusCode.ERROR);
    expect(agent?.attributes['error.type']).toBe(results[2]?.error?.code);
  });
});

describe('metrics at /metrics', () => {
  it('counts what the runs did', () => {
    expect(value('forge_runs_total', { council: 'Support', status: 'succeeded' })).toBe(2);
    expect(value('forge_runs_total', { council: 'Broken', status: 'failed' })).toBe(1);
    expect(value('forge_model_fallbacks_total', { from: 'primary', to: 'backup' })).toBe(2);
    expect(value('forge_model_retries_total', { model: 'primary' })).toBe(1);
    expect(value('forge_model_calls_total', { model: 'backup', outcome: 'ok' })).toBe(2);
    expect(value('forge_model_calls_total', { model: 'tooler', outcome: 'ok' })).toBe(4);
    const failedPrimary = (samples(scraped).get('forge_model_calls_total') ?? [])
      .filter((s) => s.labels.model === 'primary' && s.labels.outcome !== 'ok')
      .reduce((sum, s) => sum + s.value, 0);
    expect(failedPrimary).toBe(4);
    expect(value('forge_tokens_total', { model: 'tooler', direction: 'output' })).toBeGreaterThanOrEqual(12);
    expect(value('forge_cost_usd_total', { model: 'backup' })).toBeGreaterThan(0);
    expect(value('agent_latency_seconds_count', { council: 'Support', agent: 'Resolver' })).toBe(2);
    expect(value('agent_error_rate', { council: 'Broken', agent: 'Doomed' })).toBe(1);
    expect(value('agent_error_rate', { council: 'Support', agent: 'Triage' })).toBe(0);
    expect(value('forge_skill_cache_hits_total', { skill: 'Lookup' })).toBe(2);
    expect(value('forge_skill_cache_misses_total', { skill: 'Lookup' })).toBe(2);
    expect(value('forge_queue_depth', { priority: 'normal' })).toBe(0);
    expect(value('forge_breaker_state', { model: 'primary' })).toBe(0);
    expect(value('memory_usage_bytes', { type: 'rss' })).toBeGreaterThan(0);
    // No key reaches a label or a value.
    expect(scraped).not.toContain('sk-telemetry-1234');
  });
});

describe('cost ledger', () => {
  it('has a row per attempt: failed, retried and fallback attempts included', () => {
    const first = telemetry.ledger.ledgerOf(results[0]?.runId ?? '');
    const triage = first?.entries.filter((e) => e.path.join('/') === 'Support/Triage');
    expect(triage?.map((e) => [e.model, e.attempt, e.outcome, e.fallbackFrom])).toEqual([
      ['primary', 1, 'error', undefined],
      ['primary', 2, 'error', undefined],
      ['backup', 3, 'ok', 'primary'],
    ]);
    expect(first?.byPath['Support/Resolver']?.attempts).toBe(2);
    expect(first?.totals.attempts).toBe(5);
    expect(first?.totals.failedAttempts).toBe(2);
    // The ledger's money is the run's money (failed attempts cost nothing we can see).
    expect(first?.totals.costUsd).toBeCloseTo(results[0]?.usage.costUsd ?? -1, 12);
    expect(first?.totals.inputTokens).toBe(results[0]?.usage.inputTokens);

    // A failing call that falls back is two rows.
    const second = telemetry.ledger.ledgerOf(results[1]?.runId ?? '');
    expect(
      second?.entries.filter((e) => e.path.join('/') === 'Support/Triage').map((e) => [e.model, e.outcome]),
    ).toEqual([
      ['primary', 'error'],
      ['backup', 'ok'],
    ]);
    expect(telemetry.ledger.ledgerOf(results[2]?.runId ?? '')?.status).toBe('failed');
  });
});

// ---- dashboard and alert rules ----

const dashboardPath = join(root, 'deploy/grafana/forge-dashboard.json');
const alertsPath = join(root, 'deploy/prometheus/alerts.yml');

interface Expr {
  where: string;
  expr: string;
}

/** Every PromQL expression of the dashboard (panel targets, also in rows) and its variable queries. */
function dashboardExprs(): Expr[] {
  const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as {
    panels: Array<{ title: string; targets?: Array<{ expr: string }>; panels?: unknown[] }>;
    templating: { list: Array<{ name: string; type: string; query?: { query: string } | string }> };
  };
  const out: Expr[] = [];
  const walk = (panels: typeof dashboard.panels) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? [])
        out.push({ where: `panel "${panel.title}"`, expr: target.expr });
      if (panel.panels) walk(panel.panels as typeof dashboard.panels);
    }
  };
  walk(dashboard.panels);
  for (const variable of dashboard.templating.list) {
    if (variable.type !== 'query') continue;
    const query = typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '');
    // label_values(<selector>, <label>) is Grafana's, not PromQL: its selector is.
    const m = /^label_values\((.*),\s*\w+\)$/.exec(query.trim());
    out.push({ where: `variable $${variable.name}`, expr: m?.[1] ?? query });
  }
  return out;
}

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ record?: string; alert?: string; expr: string }> }>;
}

function ruleExprs(): { exprs: Expr[]; recorded: Set<string> } {
  const file = parseYaml(readFileSync(alertsPath, 'utf8')) as RuleFile;
  const exprs: Expr[] = [];
  const recorded = new Set<string>();
  for (const group of file.groups) {
    for (const rule of group.rules) {
      if (rule.record) recorded.add(rule.record);
      exprs.push({ where: `rule ${rule.record ?? rule.alert}`, expr: rule.expr });
    }
  }
  return { exprs, recorded };
}

const promqlKeywords = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'atan2',
  'inf',
  'nan',
]);

/**
 * Metric names a PromQL expression selects. Label matchers (`{...}`), ranges (`[5m]`), strings,
 * Grafana variables, numbers and durations are dropped; an identifier followed by `(` is a
 * function or aggregation, and the parenthesised list after by/without/on/ignoring/group_* holds
 * label names, not metrics.
 */
function metricNamesIn(expr: string): string[] {
  const text = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\$\{?\w+\}?/g, '5m')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  const tokens = text.match(/\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|[smhdwy])*|[a-zA-Z_:][\w:]*|\S/g) ?? [];
  const names: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as string;
    if (!/^[a-zA-Z_:]/.test(token)) continue;
    const lower = token.toLowerCase();
    if (
      ['by', 'without', 'on', 'ignoring', 'group_left', 'group_right'].includes(lower) &&
      tokens[i + 1] === '('
    ) {
      while (i < tokens.length && tokens[i] !== ')') i++;
      continue;
    }
    // A function or aggregation: `rate(`, `sum(`, or `sum by (...) (`.
    const next = tokens[i + 1]?.toLowerCase();
    if (promqlKeywords.has(lower) || next === '(' || next === 'by' || next === 'without') continue;
    names.push(token);
  }
  return names;
}

/** Metric families in the exposition text, with histogram series names mapped to their family. */
function exportedFamilies(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1] as string, m[2] as string);
  return types;
}

function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m && ['histogram', 'summary'].includes(types.get(m[1] as string) ?? '')) return m[1];
  return undefined;
}

describe('dashboard and alert rules', () => {
  it('the expression parser finds metrics and only metrics', () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.95, sum by (le, council) (rate(agent_latency_seconds_bucket{council=~"$council"}[$__rate_interval]))) > 5',
      ),
    ).toEqual(['agent_latency_seconds_bucket']);
    expect(metricNamesIn('a_total / on (x) group_left (y) b offset 1d or vector(0) and c > 2 * d')).toEqual([
      'a_total',
      'b',
      'c',
      'd',
    ]);
    expect(metricNamesIn('forge:ratio:rate5m > 1e-9')).toEqual(['forge:ratio:rate5m']);
    expect(metricNamesIn('max without (instance) (up) * on () group_right count(x)')).toEqual(['up', 'x']);
  });

  it('every metric the dashboard and the rules name is exported after a run', () => {
    const types = exportedFamilies(scraped);
    const withSamples = samples(scraped);
    const { exprs, recorded } = ruleExprs();
    const all = [...dashboardExprs(), ...exprs];
    expect(all.length).toBeGreaterThan(20);
    const used = new Set<string>();
    for (const { where, expr } of all) {
      const names = metricNamesIn(expr);
      expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        used.add(name);
        if (recorded.has(name)) continue;
        const family = familyOf(name, types);
        expect(family, `${where} uses ${name}, which /metrics does not export`).toBeDefined();
        expect(
          withSamples.get(name)?.length ?? 0,
          `${where}: ${name} has no sample after the runs`,
        ).toBeGreaterThan(0);
      }
    }
    // The dashboard and the rules between them cover every metric the harness exports.
    const families = new Set([...used].map((n) => familyOf(n, types)).filter((n) => n !== undefined));
    expect([...metricNames].filter((n) => !families.has(n))).toEqual([]);
    // Recording rules are used by something.
    for (const name of recorded) expect(used.has(name), name).toBe(true);
  });
});

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
const ci = process.env.CI === 'true';
if (!promtool && !ci) {
  console.warn(
    '[telemetry.test] promtool not found: skipping the rule checks (apt-get install -y prometheus)',
  );
}

describe.runIf(promtool || ci)('promtool', () => {
  const run = (...args: string[]) => spawnSync('promtool', args, { cwd: root, encoding: 'utf8' });

  it('is installed (required under CI=true)', () => {
    expect(promtool, 'promtool is missing: apt-get install -y prometheus').toBe(true);
  });

  it('checks the alert rules', () => {
    const result = run('check', 'rules', 'deploy/prometheus/alerts.yml');
    expect(result.stdout + result.stderr).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  it('runs the rules unit tests: every alert fires on its case and not on its neighbour', () => {
    const result = run(
      'test',
      'rules',
      'deploy/prometheus/alerts.test.yml',
      'deploy/prometheus/drift.test.yml',
    );
    expect(result.stdout.match(/SUCCESS/g), result.stdout + result.stderr).toHaveLength(2);
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });

  it('parses every dashboard expression as PromQL', () => {
    const dir = mkdtempSync(join(tmpdir(), 'forge-dashboard-'));
    try {
      const rules = dashboardExprs().map(({ expr }, i) => ({
        record: `dashboard:expr_${i}`,
        expr: expr.replace(/\$__rate_interval/g, '5m').replace(/\$\{?\w+\}?/g, '.*'),
      }));
      writeFileSync(join(dir, 'dashboard.yml'), JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
      const result = run('check', 'rules', join(dir, 'dashboard.yml'));
      expect(result.stdout + result.stderr, result.stderr).toContain(`SUCCESS: ${rules.length} rules found`);
      expect(result.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('library code paths', () => {
  it('never load the OpenTelemetry SDK: spans and metrics run on @opentelemetry/api and prom-client', () => {
    const script = `
      import { registerHooks } from 'node:module';
      const loaded = new Set();
      registerHooks({
        resolve(specifier, context, next) {
          if (specifier.startsWith('@opentelemetry/') || specifier === 'prom-client') loaded.add(specifier);
          return next(specifier, context);
        },
      });
      const { Harness, installTelemetry } = await import('forge-harness');
      const harness = new Harness({
        models: [{ id: 'sim', type: 'simulated' }],
        councils: [{ name: 'C', agents: [{ name: 'A', model: 'sim' }] }],
        memory: 'memory://',
        journal: false,
      });
      const telemetry = installTelemetry(harness);
      const result = await harness.run('C', 'hello');
      await telemetry.metrics.metrics();
      await harness.stop();
      console.log(JSON.stringify({ status: result.status, loaded: [...loaded].sort() }));
    `;
    const child = spawnSync(
      process.execPath,
      ['--conditions=forge-source', '--input-type=module', '-e', script],
      {
        cwd: root,
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    expect(child.status, child.stderr).toBe(0);
    const out = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as {
      status: string;
      loaded: string[];
    };
    expect(out.status).toBe('succeeded');
    expect(out.loaded).toEqual(['@opentelemetry/api', 'prom-client']);
  });
});
