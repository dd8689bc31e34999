/**
 * `forge explain <runId>`: the decision path of a run, rebuilt from its journaled events alone
 * (no config, no keys). {@link explainRun} folds the events into a tree by event `path`
 * (council → agents → sub-agents and re-asked attempts); {@link renderExplainText} draws it with
 * `├─`/`└─`, and `--json` prints the same tree.
 */
import { HarnessError } from '../errors.ts';
import type { EventError, RunEvent, Usage } from '../runtime/events.ts';
import { processAlive } from '../runtime/journal.ts';
import { parse } from './args.ts';
import type { Command } from './commands.ts';
import { exitCodes } from './exit-codes.ts';
import { journalSource, openExistingJournal, unknownRunHint } from './journal-source.ts';
import { colours, oneLine } from './render.ts';

/**
 * Where a node stands. `running`: no end seen yet in a run that may still be going;
 * `interrupted`: it had started when its process died (a resumed run may have run it again,
 * in which case the later attempt decides the status).
 */
export type ExplainStatus = 'running' | 'interrupted' | 'succeeded' | 'failed' | 'aborted' | 'limit_exceeded';

/** One model as called for one node (its own calls, not its children's). */
export interface ExplainModel {
  model: string;
  provider: string;
  /** Calls started (every retry and fallback attempt counts). */
  calls: number;
  /** Calls that returned an answer. */
  answered: number;
  /** Calls that failed. */
  failed: number;
  /** True when at least one call streamed. */
  streamed: boolean;
  inputTokens: number;
  outputTokens: number;
  /** USD, from the registry's prices at run time. */
  costUsd: number;
  /** Summed provider latency of the answered and failed calls, ms. */
  latencyMs: number;
}

/** A tool call of a node. `running`: started, never finished (its process died). */
export interface ExplainToolCall {
  tool: string;
  toolCallId: string;
  input: unknown;
  status: 'running' | 'succeeded' | 'failed';
  output?: unknown;
  error?: EventError;
  durationMs?: number;
  /** Run attempt (1 = first execution, +1 per resume). */
  attempt: number;
}

/** A choice a strategy or policy made: route, vote, merge, judge, graph, trigger. */
export interface ExplainDecision {
  kind: string;
  chosen: string;
  reason: string;
  detail?: Record<string, unknown>;
  /** The decision was read back from the journal on a resume, not made again. */
  replayed: boolean;
  attempt: number;
}

/** One node of the tree: the council (root) or an agent, sub-agent or re-asked attempt. */
export interface ExplainNode {
  /** The last element of `path`: the council's name at the root, else the agent's (`Writer#2` for a re-ask). */
  name: string;
  path: string[];
  kind: 'council' | 'agent';
  status: ExplainStatus;
  /** Run attempts in which this node did something, ascending. */
  attempts: number[];
  /** The model the agent was configured with (its first `agent-start`). */
  model?: string;
  /** The model whose answer the node ended with (last answered call), when it called one. */
  answeredBy?: string;
  input?: string;
  output?: string;
  models: ExplainModel[];
  /** The same model tried again after `delayMs` (Retry-After or backoff), and why. */
  retries: Array<{ model: string; delayMs: number; reason: string; attempt: number }>;
  fallbacks: Array<{ from: string; to: string; reason: string; attempt: number }>;
  decisions: ExplainDecision[];
  tools: ExplainToolCall[];
  spawns: Array<{ agent: string; depth: number; input: string; attempt: number }>;
  limits: Array<{ limit: string; limitValue: number; used: number; attempt: number }>;
  /** Journal keys replayed instead of executed, per run attempt. */
  replayed: Array<{ attempt: number; keys: string[] }>;
  warnings: string[];
  /** The node's usage (an agent's includes its sub-agents'; the root's is the run's). */
  usage?: Usage;
  /** Of the node's last execution, ms. */
  durationMs?: number;
  error?: EventError;
  children: ExplainNode[];
  /** Root only: the run as a whole. */
  run?: ExplainRunInfo;
}

/** Run-level facts, on the root node. */
export interface ExplainRunInfo {
  runId: string;
  council: string;
  /** Every execution of the run: 1 first, then one per resume, with what it replayed. */
  attempts: Array<{ attempt: number; journaledSteps: number; replayed: number }>;
  /** Epoch ms of the first and last event. */
  startedAt: number;
  endedAt: number;
  /** Time spent waiting for admission by the scheduler, ms, over all attempts. */
  queuedMs: number;
}

/** Options of {@link explainRun}. */
export interface ExplainOptions {
  /**
   * The run's process is gone while its journal still says `running` (see `processAlive`): the
   * root and every node still open show as `interrupted` instead of `running`.
   */
  interrupted?: boolean;
}

/**
 * Folds a run's events (as `journaledEvents(runId)` returns them: every attempt in order, each
 * event with its `attempt`; events without one take it from the last `run-resume`) into the
 * explain tree. Pure: the same events always give the same tree. `token-delta` events are
 * ignored (the journal does not keep them).
 */
export function explainRun(
  events: ReadonlyArray<RunEvent & { attempt?: number }>,
  options: ExplainOptions = {},
): ExplainNode {
  const first = events[0];
  if (first === undefined) {
    throw new HarnessError('journal_error', 'the run has no journaled events to explain', {
      hint: 'the run was created but its process died before its first event; start it again',
    });
  }
  const start = events.find((e) => e.type === 'run-start');
  const councilName = start?.type === 'run-start' ? start.council : (first.path[0] ?? '');
  const root = node([councilName], 'council');
  const info: ExplainRunInfo = {
    runId: first.runId,
    council: councilName,
    attempts: [],
    startedAt: first.ts,
    endedAt: first.ts,
    queuedMs: 0,
  };
  root.run = info;
  const nodes = new Map<string, ExplainNode>([[key(root.path), root]]);
  const openTools = new Map<string, ExplainToolCall>();
  let current = 1;

  const at = (path: readonly string[]): ExplainNode => {
    // Events at [] (a refused resume) and the council's own events belong to the root.
    if (path.length <= 1) return root;
    const k = key(path);
    let found = nodes.get(k);
    if (found === undefined) {
      const parent = at(path.slice(0, -1));
      found = node([...path], 'agent');
      parent.children.push(found);
      nodes.set(k, found);
    }
    return found;
  };
  // What was still open when an attempt's process died stays open for good: a resume starts
  // those steps afresh (new agent-start, new tool call ids). The root's status is the run's.
  const interruptOpen = () => {
    for (const n of nodes.values()) if (n !== root && n.status === 'running') n.status = 'interrupted';
    openTools.clear();
  };
  const attemptInfo = (attempt: number) => {
    let a = info.attempts.find((x) => x.attempt === attempt);
    if (a === undefined) {
      a = { attempt, journaledSteps: 0, replayed: 0 };
      info.attempts.push(a);
    }
    return a;
  };

  for (const e of events) {
    if (e.type === 'token-delta') continue;
    // `model-call-start` and `model-retry` carry their own `attempt` (the try of the call), which
    // the journal's run attempt overwrites; a run's attempt only ever changes at a `run-start`.
    const attempt =
      e.type === 'model-call-start' || e.type === 'model-retry' ? current : (e.attempt ?? current);
    if (attempt > current) interruptOpen();
    current = attempt;
    if (e.type === 'run-resume') attemptInfo(attempt).journaledSteps = e.journaledSteps;
    attemptInfo(attempt);
    info.endedAt = Math.max(info.endedAt, e.ts);
    const n = at(e.path);
    if (!n.attempts.includes(attempt)) n.attempts.push(attempt);
    switch (e.type) {
      case 'run-start':
        root.input = e.input;
        root.status = 'running';
        break;
      case 'run-finish':
        root.status = 'succeeded';
        root.output = e.output;
        root.usage = e.usage;
        root.durationMs = e.durationMs;
        delete root.error;
        break;
      case 'run-error':
        root.status =
          e.error.code === 'aborted' || e.error.code === 'limit_exceeded' ? e.error.code : 'failed';
        root.usage = e.usage;
        root.durationMs = e.durationMs;
        root.error = e.error;
        break;
      case 'run-queued':
        info.queuedMs += e.waitedMs;
        break;
      case 'agent-start':
        n.status = 'running';
        n.model ??= e.model;
        n.input = e.input;
        delete n.error;
        break;
      case 'agent-finish':
        n.status = 'succeeded';
        n.output = e.output;
        n.usage = e.usage;
        n.durationMs = e.durationMs;
        break;
      case 'agent-error':
        n.status = 'failed';
        n.error = e.error;
        break;
      case 'model-call-start': {
        const m = modelOf(n, e.model, e.provider);
        m.calls += 1;
        m.streamed ||= e.stream;
        break;
      }
      case 'model-call-finish': {
        const m = modelOf(n, e.model, e.provider);
        m.answered += 1;
        m.inputTokens += e.inputTokens;
        m.outputTokens += e.outputTokens;
        m.costUsd += e.costUsd;
        m.latencyMs += e.latencyMs;
        n.answeredBy = e.model;
        break;
      }
      case 'model-call-error': {
        const m = modelOf(n, e.model, e.provider);
        m.failed += 1;
        m.latencyMs += e.latencyMs;
        break;
      }
      case 'model-retry':
        n.retries.push({ model: e.model, delayMs: e.delayMs, reason: e.reason, attempt });
        break;
      case 'model-fallback':
        n.fallbacks.push({ from: e.from, to: e.to, reason: e.reason, attempt });
        break;
      case 'model-warning':
        for (const w of e.warnings) n.warnings.push(`${e.model}: ${w}`);
        break;
      case 'tool-call-start': {
        const call: ExplainToolCall = {
          tool: e.tool,
          toolCallId: e.toolCallId,
          input: e.input,
          status: 'running',
          attempt,
        };
        n.tools.push(call);
        openTools.set(`${key(e.path)}\u0000${e.toolCallId}`, call);
        break;
      }
      case 'tool-call-finish':
      case 'tool-call-error': {
        const id = `${key(e.path)}\u0000${e.toolCallId}`;
        const call =
          openTools.get(id) ??
          // A finish without its start (should not happen): still worth showing.
          pushTool(n, {
            tool: e.tool,
            toolCallId: e.toolCallId,
            input: undefined,
            status: 'running',
            attempt,
          });
        openTools.delete(id);
        call.durationMs = e.durationMs;
        if (e.type === 'tool-call-finish') {
          call.status = 'succeeded';
          call.output = e.output;
        } else {
          call.status = 'failed';
          call.error = e.error;
        }
        break;
      }
      case 'decision':
        n.decisions.push({
          kind: e.kind,
          chosen: e.chosen,
          reason: e.reason,
          ...(e.detail === undefined ? {} : { detail: e.detail }),
          replayed: e.detail?.replayed === true,
          attempt,
        });
        break;
      case 'subagent-spawn':
        n.spawns.push({ agent: e.agent, depth: e.depth, input: e.input, attempt });
        break;
      case 'limit-exceeded':
        n.limits.push({ limit: e.limit, limitValue: e.limitValue, used: e.used, attempt });
        break;
      case 'step-replayed': {
        let group = n.replayed.find((r) => r.attempt === attempt);
        if (group === undefined) {
          group = { attempt, keys: [] };
          n.replayed.push(group);
        }
        group.keys.push(e.key);
        attemptInfo(attempt).replayed += 1;
        break;
      }
      default:
        break;
    }
  }
  const ended = root.status !== 'running';
  if (ended || options.interrupted) interruptOpen();
  if (!ended && options.interrupted) root.status = 'interrupted';
  info.attempts.sort((a, b) => a.attempt - b.attempt);
  for (const n of nodes.values()) n.attempts.sort((a, b) => a - b);
  return root;
}

/** A new node; an agent is `succeeded` until an event says otherwise (a node seen only through replays finished). */
function node(path: string[], kind: ExplainNode['kind']): ExplainNode {
  return {
    name: path.at(-1) ?? '',
    path,
    kind,
    status: kind === 'council' ? 'running' : 'succeeded',
    attempts: [],
    models: [],
    retries: [],
    fallbacks: [],
    decisions: [],
    tools: [],
    spawns: [],
    limits: [],
    replayed: [],
    warnings: [],
    children: [],
  };
}

function key(path: readonly string[]): string {
  return path.join('\u0000');
}

function modelOf(n: ExplainNode, model: string, provider: string): ExplainModel {
  let m = n.models.find((x) => x.model === model);
  if (m === undefined) {
    m = {
      model,
      provider,
      calls: 0,
      answered: 0,
      failed: 0,
      streamed: false,
      inputTokens: 0,
      outputTokens: 0,
      costUsd: 0,
      latencyMs: 0,
    };
    n.models.push(m);
  }
  return m;
}

function pushTool(n: ExplainNode, call: ExplainToolCall): ExplainToolCall {
  n.tools.push(call);
  return call;
}

/** Options of {@link renderExplainText}. */
export interface ExplainTextOptions {
  /** Colours (default false: plain text for pipes and files). */
  tty?: boolean;
  /** Characters of inputs, outputs and tool values shown per line (default 120). */
  width?: number;
}

interface TextNode {
  label: string;
  children: TextNode[];
}

/**
 * The tree as text: a header with the run's totals and attempts, then the council's decisions
 * and agents as an indented tree (`├─`, `└─`, `│`). Colours only when `tty` is set.
 */
export function renderExplainText(root: ExplainNode, options: ExplainTextOptions = {}): string {
  const k = colours(options.tty ?? false);
  const width = options.width ?? 120;
  const run = root.run;
  const lines: string[] = [];
  const totals = [
    run && run.attempts.length > 1 ? `${run.attempts.length} attempts` : undefined,
    root.durationMs === undefined ? undefined : formatMs(root.durationMs),
    root.usage ? usageText(root.usage) : undefined,
  ].filter((x): x is string => x !== undefined);
  lines.push(
    `${k.bold(`▶ ${root.name}`)} ${k.dim(run?.runId ?? '')} ${statusText(root.status, k)}${totals.length ? k.dim(` · ${totals.join(' · ')}`) : ''}`,
  );
  if (root.input !== undefined) lines.push(k.dim(`  input: ${oneLine(root.input, width)}`));
  for (const a of run?.attempts ?? []) {
    if (a.attempt === 1) continue;
    lines.push(
      `  ${k.yellow('↻')} attempt ${a.attempt}: resumed with ${a.journaledSteps} journaled steps, ${a.replayed} replayed`,
    );
  }
  if (run && run.queuedMs > 0) lines.push(k.dim(`  queued ${formatMs(run.queuedMs)} before starting`));
  const top = [...facts(root, k, width), ...root.children.map((c) => textNode(c, k, width))];
  draw(top, '', lines, k.dim);
  if (root.error) lines.push(`${k.red(`✗ ${root.error.code}: ${root.error.message}`)}`);
  if (root.status === 'succeeded' && root.output !== undefined) {
    lines.push(`${k.bold('Output')} ${oneLine(root.output, width * 2)}`);
  }
  return `${lines.join('\n')}\n`;
}

type Styles = ReturnType<typeof colours>;

function textNode(n: ExplainNode, k: Styles, width: number): TextNode {
  const answered =
    n.answeredBy !== undefined && n.answeredBy !== n.model ? `, answered by ${n.answeredBy}` : '';
  const on = n.model === undefined ? '' : k.dim(` on ${n.model}${answered}`);
  return {
    label: `${k.cyan('●')} ${k.bold(n.name)} ${statusText(n.status, k)}${on}`,
    children: [...facts(n, k, width), ...n.children.map((c) => textNode(c, k, width))],
  };
}

/** A node's own lines, in the order a reader asks: what it called, what went wrong, what it chose. */
function facts(n: ExplainNode, k: Styles, width: number): TextNode[] {
  const out: string[] = [];
  const tag = (attempt: number) =>
    n.attempts.length > 1 || attempt > 1 ? k.dim(` [attempt ${attempt}]`) : '';
  for (const m of n.models) {
    const parts = [
      `${m.calls} call${m.calls === 1 ? '' : 's'}`,
      `${m.answered} answered`,
      ...(m.failed ? [k.red(`${m.failed} failed`)] : []),
      `${m.inputTokens} in / ${m.outputTokens} out tokens`,
      ...(m.costUsd > 0 ? [`$${m.costUsd.toFixed(6)}`] : []),
      formatMs(m.latencyMs),
    ];
    out.push(
      `model ${k.bold(m.model)} ${k.dim(`(${m.provider}${m.streamed ? ', streamed' : ''})`)}: ${parts.join(' · ')}`,
    );
  }
  for (const r of n.retries) {
    out.push(
      `${k.yellow('↻')} retry ${r.model} after ${formatMs(r.delayMs)}: ${oneLine(r.reason, width)}${tag(r.attempt)}`,
    );
  }
  for (const f of n.fallbacks) {
    out.push(`${k.yellow('↪')} fallback ${f.from} → ${f.to}: ${oneLine(f.reason, width)}${tag(f.attempt)}`);
  }
  for (const d of n.decisions) {
    out.push(
      `${k.cyan('◆')} ${d.kind}: ${k.bold(d.chosen)} — ${oneLine(d.reason, width)}${d.replayed ? k.dim(' (replayed)') : ''}${tag(d.attempt)}`,
    );
  }
  for (const t of n.tools) {
    const input = oneLine(JSON.stringify(t.input) ?? '', Math.floor(width / 2));
    const end =
      t.status === 'succeeded'
        ? `${k.green('→')} ${oneLine(JSON.stringify(t.output) ?? '', width)}`
        : t.status === 'failed'
          ? k.red(`✗ ${t.error?.code ?? 'error'}: ${oneLine(t.error?.message ?? '', width)}`)
          : k.yellow('… never finished');
    const took = t.durationMs === undefined ? '' : k.dim(` (${formatMs(t.durationMs)})`);
    out.push(`${k.dim('⚙')} ${t.tool}(${input}) ${end}${took}${tag(t.attempt)}`);
  }
  for (const s of n.spawns) {
    out.push(`${k.cyan('⑂')} spawned ${k.bold(s.agent)} at depth ${s.depth}${tag(s.attempt)}`);
  }
  for (const l of n.limits) {
    out.push(`${k.red('⚠')} limit ${l.limit} reached: ${l.used} used of ${l.limitValue}${tag(l.attempt)}`);
  }
  for (const r of n.replayed) {
    const shown = r.keys.slice(0, 4).join(', ');
    const more = r.keys.length > 4 ? `, … ${r.keys.length - 4} more` : '';
    out.push(
      k.dim(
        `⟲ attempt ${r.attempt} replayed ${r.keys.length} journaled step${r.keys.length === 1 ? '' : 's'}: ${shown}${more}`,
      ),
    );
  }
  for (const w of n.warnings) out.push(k.dim(`⚠ ${oneLine(w, width)}`));
  if (n.kind === 'agent') {
    if (n.output !== undefined) out.push(k.dim(`output: ${oneLine(n.output, width)}`));
    if (n.error) out.push(k.red(`✗ ${n.error.code}: ${oneLine(n.error.message, width)}`));
    if (n.usage) {
      const took = n.durationMs === undefined ? '' : `${formatMs(n.durationMs)} · `;
      out.push(k.dim(`${took}${usageText(n.usage)}`));
    }
  }
  return out.map((label) => ({ label, children: [] }));
}

function draw(items: TextNode[], prefix: string, lines: string[], dim: (s: string) => string): void {
  items.forEach((item, i) => {
    const last = i === items.length - 1;
    lines.push(`${prefix}${dim(last ? '└─ ' : '├─ ')}${item.label}`);
    draw(item.children, `${prefix}${dim(last ? '   ' : '│  ')}`, lines, dim);
  });
}

function statusText(status: ExplainStatus, k: Styles): string {
  switch (status) {
    case 'succeeded':
      return k.green(status);
    case 'failed':
    case 'aborted':
      return k.red(status);
    case 'interrupted':
    case 'limit_exceeded':
      return k.yellow(status);
    default:
      return k.cyan(status);
  }
}

function usageText(u: Usage): string {
  const cost = u.costUsd > 0 ? ` · $${u.costUsd.toFixed(6)}` : '';
  return `${u.inputTokens + u.outputTokens} tokens · ${u.modelCalls} model call${u.modelCalls === 1 ? '' : 's'}${cost}`;
}

/** `850 ms`, `12.3 s`, `4m 05s`, `2h 03m`. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** `forge explain <runId>`: the run's decision tree from its journal (text, or `--json`). */
export const explainCommand: Command = {
  help: `forge explain <runId> [--journal URL] [--config FILE] [--json]

Prints the decision path of a run from its journal: a tree by council, agent and
sub-agent with the models called and which answered, retries and fallbacks with
their reasons, decisions (route, vote, merge, judge, trigger) with theirs, tool
calls, sub-agent spawns, limits hit, steps replayed on each resume, usage, cost,
and how the run ended. Needs only the journal: no model keys.

  --journal URL   the journal (sqlite://path or a path; default: journal: of --config,
                  else $FORGE_JOURNAL_URL, else sqlite://.forge/journal.db)
  --config FILE   read only to find the journal named by its journal: key
  --json          the same tree as one JSON object
`,
  async run(args, io) {
    const { values, positionals } = parse(
      'explain',
      args,
      { journal: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' } },
      1,
    );
    const runId = positionals[0];
    if (runId === undefined) {
      throw new HarnessError('cli_usage', 'forge explain: missing <runId>', {
        hint: 'usage: forge explain <runId>; list runs with forge runs',
      });
    }
    const source = await journalSource(
      values.journal as string | undefined,
      values.config as string | undefined,
      io,
    );
    const journal = openExistingJournal(source);
    try {
      const record = journal?.getRun(runId);
      if (journal === undefined || record === undefined) {
        throw new HarnessError('unknown_run', `no run ${runId} in the journal at ${source.path}`, {
          hint: unknownRunHint(source, journal !== undefined),
        });
      }
      const interrupted =
        record.status === 'running' && record.ownerPid !== process.pid && !processAlive(record.ownerPid);
      const tree = explainRun(journal.events(runId), { interrupted });
      if (values.json) io.stdout(`${JSON.stringify(tree)}\n`);
      else io.stdout(renderExplainText(tree, { tty: io.isTty }));
      return exitCodes.ok;
    } finally {
      journal?.close();
    }
  },
};
