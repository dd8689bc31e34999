/**
 * The health endpoints, as a small Hono app the server reuses (and the telemetry routes extend):
 *
 * - `GET /livez`: 200 while the process is alive and its event loop is not stalled (lag p99 under
 *   a threshold); 503 otherwise, so an orchestrator restarts it. Touches no dependency.
 * - `GET /readyz`: 200 when every critical probe (memory stores, the journal, memory pressure) is
 *   up; 503 naming the ones that are not, so a load balancer stops sending work.
 * - `GET /health`: JSON diagnostics: overall status, every probe's last result, versions,
 *   breakers, scheduler stats, memory pressure, and internal consistency checks (every council's models
 *   resolve; no run journaled as running by this process that is not in flight; scheduler
 *   counters agree; the monitor is running). 503 when the overall status is `down`.
 *
 * `createHealthApp(source)` registers the probes it needs on `source.health` (the process, the
 * journal, one per model in use, memory pressure) and keeps the model probes in step with the
 * councils on every `/readyz` and `/health`.
 */
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { toHarnessError } from '../errors.ts';
import type { RunEvent } from '../runtime/events.ts';
import type { RunJournal } from '../runtime/journal.ts';
import type { SchedulerStats } from '../runtime/scheduler/types.ts';
import { createJournalProbe } from './journal-probe.ts';
import type { MemoryPressure } from './memory-pressure.ts';
import { createModelProbe, type ModelProbeOptions, type ModelSource } from './model-probe.ts';
import type { HealthMonitor, HealthReport, ProbeResult } from './monitor.ts';
import type { ProbeStatus } from './probe.ts';
import { createProcessProbe, type ProcessProbe, worst } from './process-probe.ts';

/** The parts of a council the health checks read (`Council` is one). */
export interface HealthCouncil {
  readonly name: string;
  readonly agents: ReadonlyArray<{
    readonly name: string;
    readonly model: string;
    readonly spec: {
      readonly fallback?: readonly string[] | undefined;
      readonly escalateTo?: string | undefined;
    };
  }>;
  readonly router?: { readonly model?: string | undefined } | undefined;
  readonly embeddingModel?: string | undefined;
}

/** The registry as the health checks use it (`ModelRegistry` is one). */
export interface HealthRegistry extends ModelSource {
  has(id: string): boolean;
  /** When present, a council's embedding model is checked with it. */
  resolveEmbedding?(id: string): unknown;
}

/**
 * What the health app reads. A `Harness` is one: `createHealthApp(harness)`. Every member but
 * `health` and `councilNames` is optional; a missing one leaves its part out of `/health`.
 */
export interface HealthSource {
  readonly health: HealthMonitor;
  councilNames(): string[];
  council?(name: string): HealthCouncil;
  readonly registry?: HealthRegistry;
  readonly scheduler?: { stats(): SchedulerStats };
  /** The run journal, or undefined when it is off (may throw `journal_error` when it cannot open). */
  readonly journal?: RunJournal | undefined;
  /** Every event of every run: tells which runs are in flight (for the journal consistency check). */
  subscribe?(listener: (event: RunEvent) => void, options?: { tokenDeltas?: boolean }): () => void;
  /** Removes secrets from text (error details). */
  redact?(text: string): string;
  readonly memoryPressure?: MemoryPressure | undefined;
  /** Every circuit breaker's live state (provider, model and key scopes): `/health` shows them as `circuits`. */
  breakers?(): ReadonlyArray<{ scope: string; key: string; state: string; since: string }>;
  /** Whether more workers would help (queue, admission waits, slow models): `/health` shows its reading. */
  readonly scale?: { read(): unknown } | undefined;
}

export interface HealthAppOptions {
  /**
   * The process probe (event-loop lag, heap); default one shared by every app of the process,
   * with the thresholds of `createProcessProbe()`.
   */
  processProbe?: ProcessProbe;
  /** `/livez` fails at or above this event-loop lag p99, ms (default: the process probe's `lagDownMs`, 1 000). */
  livenessLagMs?: number;
  /**
   * Probes of the models in use (agents' models, fallbacks, escalation models, router models):
   * options for each, or `false` for none (default: on, one request per model per 60 s).
   */
  models?: ModelProbeOptions | false;
  /** Extra sections of `/health`, e.g. `{ breakers: () => gateway.breakers() }`; each is called per request. */
  diagnostics?: Record<string, () => unknown>;
  /** Adds routes to the app (e.g. `/metrics`), after the health routes. */
  routes?: (app: Hono) => void;
}

/** One internal consistency check of `/health`. */
export interface ConsistencyCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** The body of `GET /health`. */
export interface HealthBody {
  status: ProbeStatus;
  ready: boolean;
  checkedAt: string | null;
  probes: ProbeResult[];
  pending: string[];
  versions: { forgeHarness: string; node: string; v8: string };
  process: { pid: number; uptimeSeconds: number; eventLoopLagMs: { p50: number; p99: number; max: number } };
  /** Per model, its breaker's last state change seen in run events (with `subscribe` only). */
  breakers?: Record<string, BreakerState>;
  scheduler?: SchedulerStats;
  memoryPressure?: ReturnType<MemoryPressure['state']>;
  consistency: { ok: boolean; checks: ConsistencyCheck[] };
  [section: string]: unknown;
}

/** The name of the memory-pressure probe the app registers. */
const memoryPressureProbe = 'memory-pressure';

let sharedProcessProbe: ProcessProbe | undefined;

/** The process probe every health app of this process shares unless given its own. */
function defaultProcessProbe(): ProcessProbe {
  sharedProcessProbe ??= createProcessProbe();
  return sharedProcessProbe;
}

let packageVersion: string | undefined;

/** This package's version, from its package.json (`src/health` and `dist/health` are both two levels down). */
function forgeVersion(): string {
  if (packageVersion === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
        version?: string;
      };
      packageVersion = pkg.version ?? 'unknown';
    } catch {
      packageVersion = 'unknown';
    }
  }
  return packageVersion;
}

/** Runs in flight and breaker states as the run events tell, since `since`. */
interface RunTracker {
  since: number;
  inFlight: Set<string>;
  breakers: Map<string, BreakerState>;
}

/** A model's circuit breaker as its last `breaker-*` event left it. */
export interface BreakerState {
  state: 'open' | 'half-open' | 'closed';
  /** When it changed to that state (ISO 8601). */
  since: string;
}

const breakerEvents: Record<string, BreakerState['state']> = {
  'breaker-open': 'open',
  'breaker-half-open': 'half-open',
  'breaker-close': 'closed',
};

/** Builds the health app over `source`; see the module comment for the routes. */
export function createHealthApp(source: HealthSource, options: HealthAppOptions = {}): Hono {
  const processProbe = options.processProbe ?? defaultProcessProbe();
  const livenessLagMs = options.livenessLagMs ?? processProbe.lagDownMs;
  const redact = (text: string) => (source.redact ? source.redact(text) : text);
  const modelProbes = new Set<string>();
  const tracker = trackRuns(source);

  /** Registers the probes this app relies on, and keeps one model probe per model in use. */
  const syncProbes = () => {
    const health = source.health;
    if (!health.has(processProbe.name)) health.add(processProbe);
    if (source.memoryPressure && !health.has(memoryPressureProbe)) health.add(source.memoryPressure.probe());
    if ('journal' in source && !health.probes().some((p) => p.kind === 'journal')) {
      let journal: RunJournal | undefined;
      let failure: unknown;
      try {
        journal = source.journal;
      } catch (error) {
        failure = error;
      }
      if (journal) health.add(createJournalProbe(journal));
      else if (failure !== undefined) {
        // The journal could not open: a probe that retries opening it, so /readyz says why.
        health.add(
          createJournalProbe(
            {
              location: 'journal',
              listRuns: (filter) => {
                const j = source.journal;
                return j ? j.listRuns(filter) : [];
              },
            },
            { name: 'journal' },
          ),
        );
      }
    }
    if (options.models === false || !source.registry) return;
    const registry = source.registry;
    const inUse = new Set(modelsInUse(source).map((use) => use.id));
    for (const id of inUse) {
      const name = `model:${id}`;
      if (modelProbes.has(name) || health.has(name)) continue;
      health.add(createModelProbe(registry, id, { redact, ...options.models }));
      modelProbes.add(name);
    }
    for (const name of modelProbes) {
      if (!inUse.has(name.slice('model:'.length))) {
        health.remove(name);
        modelProbes.delete(name);
      }
    }
  };

  /**
   * The last report, or a new round's when a probe (a critical one, with `onlyCritical`) has
   * never been checked: a dependency nobody has looked at yet is not reported as fine or failed.
   */
  const freshReport = async (onlyCritical: boolean): Promise<HealthReport> => {
    syncProbes();
    // Shedding starts and ends between rounds; readiness must follow it at once.
    if (source.memoryPressure) await source.health.checkProbe(memoryPressureProbe);
    const report = source.health.report();
    const pending = new Set(report.pending);
    const unchecked = source.health
      .probes()
      .some((p) => pending.has(p.name) && (!onlyCritical || (p.critical ?? true)));
    return unchecked ? await source.health.check() : report;
  };

  const app = new Hono();

  app.onError((error, c) => {
    const e = toHarnessError(error);
    return c.json({ error: { code: e.code, message: redact(e.message) } }, 500);
  });

  app.get('/livez', (c) => {
    const stats = processProbe.sample();
    const lag = stats.eventLoopLagMs;
    const alive = lag.p99 < livenessLagMs;
    return c.json(
      { status: alive ? 'alive' : 'stalled', eventLoopLagMs: lag, thresholdMs: livenessLagMs },
      alive ? 200 : 503,
    );
  });

  app.get('/readyz', async (c) => {
    const report = await freshReport(true);
    const critical = new Set(
      source.health
        .probes()
        .filter((p) => p.critical ?? true)
        .map((p) => p.name),
    );
    const dependencies = report.probes.filter((p) => p.critical);
    const summary = (p: ProbeResult) => ({
      name: p.name,
      kind: p.kind,
      status: p.status,
      ...(p.detail === undefined ? {} : { detail: p.detail }),
    });
    if (report.ready) return c.json({ ready: true, probes: dependencies.map(summary) }, 200);
    const failed = [
      ...dependencies.filter((p) => p.status !== 'up').map(summary),
      ...report.pending
        .filter((name) => critical.has(name))
        .map((name) => ({ name, status: 'unchecked' as const })),
    ];
    return c.json(
      {
        ready: false,
        failed,
        ...(report.probes.length === 0 && failed.length === 0
          ? { detail: 'no probe has been checked yet' }
          : {}),
      },
      503,
    );
  });

  app.get('/health', async (c) => {
    const report = await freshReport(false);
    const checks = consistencyChecks(source, tracker, redact);
    const consistent = checks.every((check) => check.ok);
    const breakers = tracker ? Object.fromEntries(tracker.breakers) : undefined;
    // An open breaker means a model is failing: its fallbacks carry the load, so degraded, not down.
    const circuits = source.breakers?.();
    const breakerOpen =
      Object.values(breakers ?? {}).some((b) => b.state !== 'closed') ||
      (circuits ?? []).some((b) => b.state !== 'closed');
    const status = worst(report.status, consistent && !breakerOpen ? 'up' : 'degraded');
    const lag = processProbe.sample();
    const extra: Record<string, unknown> = {};
    for (const [name, section] of Object.entries(options.diagnostics ?? {})) {
      try {
        extra[name] = section();
      } catch (error) {
        extra[name] = { error: redact(toHarnessError(error).message) };
      }
    }
    const body: HealthBody = {
      status,
      ready: report.ready,
      checkedAt: report.checkedAt > 0 ? new Date(report.checkedAt).toISOString() : null,
      probes: report.probes,
      pending: report.pending,
      versions: { forgeHarness: forgeVersion(), node: process.versions.node, v8: process.versions.v8 },
      process: { pid: process.pid, uptimeSeconds: lag.uptimeSeconds, eventLoopLagMs: lag.eventLoopLagMs },
      ...(breakers ? { breakers } : {}),
      ...(circuits ? { circuits } : {}),
      ...(source.scheduler ? { scheduler: source.scheduler.stats() } : {}),
      ...(source.memoryPressure ? { memoryPressure: source.memoryPressure.state() } : {}),
      ...(source.scale ? { scale: source.scale.read() } : {}),
      consistency: { ok: consistent, checks },
      ...extra,
    };
    return c.json(body, status === 'down' ? 503 : 200);
  });

  options.routes?.(app);
  syncProbes();
  return app;
}

/** A model in use and where: `Desk.agents[0].fallback[1]`. */
interface ModelUse {
  id: string;
  where: string;
  embedding?: true;
}

/** Every model id the councils use, with where each use is (embedding models marked). */
function modelsInUse(source: HealthSource): ModelUse[] {
  if (!source.council) return [];
  const uses: ModelUse[] = [];
  for (const name of source.councilNames()) {
    let council: HealthCouncil;
    try {
      council = source.council(name);
    } catch {
      continue;
    }
    for (const [i, agent] of council.agents.entries()) {
      const at = `${name}.agents[${i}]`;
      uses.push({ id: agent.model, where: `${at}.model` });
      for (const [f, id] of (agent.spec.fallback ?? []).entries())
        uses.push({ id, where: `${at}.fallback[${f}]` });
      if (agent.spec.escalateTo !== undefined)
        uses.push({ id: agent.spec.escalateTo, where: `${at}.escalateTo` });
    }
    if (council.router?.model !== undefined)
      uses.push({ id: council.router.model, where: `${name}.router.model` });
    if (council.embeddingModel !== undefined) {
      uses.push({ id: council.embeddingModel, where: `${name}.embeddingModel`, embedding: true });
    }
  }
  return uses;
}

/** Follows run events so the journal check knows which runs are in flight. */
function trackRuns(source: HealthSource): RunTracker | undefined {
  if (!source.subscribe) return undefined;
  const tracker: RunTracker = { since: Date.now(), inFlight: new Set(), breakers: new Map() };
  source.subscribe(
    (event) => {
      if (event.type === 'run-start') tracker.inFlight.add(event.runId);
      else if (event.type === 'run-finish' || event.type === 'run-error')
        tracker.inFlight.delete(event.runId);
      else {
        // Breaker events come from the gateway with the model they are about.
        const state = breakerEvents[event.type as string];
        const model = (event as { model?: unknown }).model;
        if (state !== undefined && typeof model === 'string') {
          tracker.breakers.set(model, { state, since: new Date(event.ts).toISOString() });
        }
      }
    },
    { tokenDeltas: false },
  );
  return tracker;
}

/** Most items named in one check's detail. */
const maxListed = 10;

function listed(items: string[]): string {
  const shown = items.slice(0, maxListed).join('; ');
  return items.length > maxListed ? `${shown}; and ${items.length - maxListed} more` : shown;
}

function consistencyChecks(
  source: HealthSource,
  tracker: RunTracker | undefined,
  redact: (text: string) => string,
): ConsistencyCheck[] {
  const checks: ConsistencyCheck[] = [];

  if (source.registry && source.council) {
    const registry = source.registry;
    const uses = modelsInUse(source);
    const problems: string[] = [];
    for (const use of uses) {
      try {
        if (use.embedding) {
          if (registry.resolveEmbedding) registry.resolveEmbedding(use.id);
          else if (!registry.has(use.id)) registry.resolve(use.id);
        } else {
          registry.resolve(use.id);
        }
      } catch (error) {
        const e = toHarnessError(error);
        problems.push(`${use.where} "${use.id}": ${e.code}: ${redact(e.message)}`);
      }
    }
    const ids = new Set(uses.map((u) => u.id));
    checks.push({
      name: 'models-resolve',
      ok: problems.length === 0,
      detail:
        problems.length === 0
          ? `${ids.size} model(s) of ${source.councilNames().length} council(s) resolve`
          : listed(problems),
    });
  }

  if ('journal' in source) {
    let journal: RunJournal | undefined;
    let failure: string | undefined;
    try {
      journal = source.journal;
    } catch (error) {
      failure = redact(toHarnessError(error).message);
    }
    if (failure !== undefined) {
      checks.push({ name: 'journal-runs', ok: false, detail: `the journal cannot be read: ${failure}` });
    } else if (journal && tracker) {
      try {
        // A run this process journaled as running must still be in flight here. Runs journaled
        // before the app was watching cannot be told apart, so only later ones are judged.
        const mine = journal
          .listRuns({ status: 'running', limit: 10_000 })
          .filter((run) => run.ownerPid === process.pid && run.updatedAt > tracker.since);
        const stray = mine.filter((run) => !tracker.inFlight.has(run.runId)).map((run) => run.runId);
        checks.push({
          name: 'journal-runs',
          ok: stray.length === 0,
          detail:
            stray.length === 0
              ? `${mine.length} run(s) journaled as running by this process, all in flight`
              : `journaled as running by this process but not in flight: ${listed(stray)}`,
        });
      } catch (error) {
        checks.push({
          name: 'journal-runs',
          ok: false,
          detail: `the journal cannot be read: ${redact(toHarnessError(error).message)}`,
        });
      }
    }
  }

  if (source.scheduler) {
    const stats = source.scheduler.stats();
    const byCouncil = Object.values(stats.runningByCouncil).reduce((sum, n) => sum + n, 0);
    const queued = Object.values(stats.queued);
    const ok = stats.running >= 0 && byCouncil === stats.running && queued.every((n) => n >= 0);
    checks.push({
      name: 'scheduler-counters',
      ok,
      detail: ok
        ? `${stats.running} running, ${queued.reduce((a, b) => a + b, 0)} queued`
        : `running ${stats.running}, per council ${byCouncil}, queued ${queued.join('/')}: the counters disagree`,
    });
  }

  const health = source.health;
  const stale = health.intervalMs * 3;
  const age = Date.now() - health.lastRoundAt;
  const monitorOk = health.running && health.lastRoundAt > 0 && age <= stale;
  checks.push({
    name: 'health-monitor',
    ok: monitorOk,
    detail: !health.running
      ? 'the health monitor is not running (Harness.start() or the first run starts it)'
      : health.lastRoundAt === 0
        ? 'the health monitor has not finished a round yet'
        : age > stale
          ? `the last round of checks finished ${Math.round(age / 1000)} s ago (every ${health.intervalMs / 1000} s expected)`
          : `last round ${Math.round(age / 1000)} s ago, every ${health.intervalMs / 1000} s`,
  });

  return checks;
}
