/**
 * Loads a forge config file (`councils.yaml`): YAML → `${VAR}` interpolation → zod
 * validation → cross-reference checks → the camelCase shapes the runtime uses.
 * Every failure is one {@link HarnessError} pointing at the exact line and column.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Document, isScalar, LineCounter, parseDocument, type YAMLParseError } from 'yaml';
import { HarnessError, type HarnessErrorCode, type SourceLocation } from '../errors.ts';
import type { BreakerOptions } from '../gateway/breaker.ts';
import { ensembleIssues, findEnsembleCycle } from '../gateway/ensemble.ts';
import type { HedgeOptions } from '../gateway/hedge.ts';
import type { ModelTimeouts } from '../gateway/timeouts.ts';
import type { GatewayDefaults } from '../models/registry.ts';
import type { CanarySpec, EnsembleSpec, ModelEntry } from '../models/types.ts';
import type { SchedulerOptions } from '../runtime/scheduler/types.ts';
import type { AgentSpec, CouncilSpec, TelemetrySpec } from '../runtime/spec.ts';
import { checkStrategy } from '../runtime/strategy-check.ts';
import { parseTrigger } from '../runtime/trigger-expr.ts';
import type { SkillConfig } from '../skills/config.ts';
import { readSkillBundleManifest } from '../skills/skill-md.ts';
import { type DescribedIssue, describeIssues } from './describe-issue.ts';
import { didYouMean } from './did-you-mean.ts';
import { type InterpolationEnv, interpolateDocument } from './interpolate.ts';
import {
  type AgentYaml,
  type ConfigFileYaml,
  type CouncilYaml,
  configFileSchema,
  type GatewayYaml,
  type ModelEntryYaml,
  type SchedulerYaml,
  type SkillConfigYaml,
} from './schema.ts';
import { createYamlLocator, type YamlLocator, type YamlPath } from './yaml-source.ts';

export { formatYamlPath } from './yaml-source.ts';

/** The typed content of a config file, camelCase. */
export interface HarnessConfig {
  /** `models:` entries in file order; empty when the file has none. */
  models: ModelEntry[];
  /** `councils:` in file order; empty when the file has none. */
  councils: CouncilSpec[];
  telemetry?: TelemetrySpec;
  /** The top-level `scheduler:` map, camelCase; absent when the file has none. */
  scheduler?: SchedulerOptions;
  /** `skills:` entries in file order (bundle paths and MCP `cwd` absolute); absent when the file has none. */
  skills?: SkillConfig[];
  /**
   * The top-level `journal:`: a `sqlite://` URL with its path made absolute against the file's
   * folder, or `false` (journal off); absent when the file has none.
   */
  journal?: string | false;
  /**
   * The top-level `gateway:` map, camelCase: defaults of every model entry's timeouts, breaker and
   * hedge. They are already merged into `models` (an entry's own settings win, field by field);
   * absent when the file has none.
   */
  gateway?: GatewayDefaults;
}

/** A validated config file and a way back to its source. */
export interface LoadedConfig extends HarnessConfig {
  /** The file it came from, as given to the loader. */
  file?: string;
  /**
   * Source location of a path in the file, e.g. `['councils', 0, 'agents', 1, 'model']`
   * (camelCase keys such as `maxTokens` are accepted too). For a path that is not in the file
   * the line and column are those of its deepest existing ancestor; `path` is always the
   * full requested path.
   */
  locate(path: ReadonlyArray<string | number>): SourceLocation;
}

/** Options of {@link parseConfig}. */
export interface ParseConfigOptions {
  /** File name for error locations and {@link LoadedConfig.file}. */
  file?: string;
  /** Variables for `${VAR}` interpolation; default `process.env`. */
  env?: Record<string, string | undefined>;
  /**
   * When given, every agent skill must be one of these, a bundle of `skills:`, or start with
   * `<mcp server name>_` (`unknown_skill` otherwise).
   */
  knownSkills?: readonly string[];
  /**
   * Names of skill sources given in code (MCP servers): agent skills named `<name>_<tool>` are
   * accepted, as for the MCP servers under `skills:`.
   */
  skillSources?: readonly string[];
  /** Folder that relative `skills:` paths start from (default: the file's folder, else the current one). */
  baseDir?: string;
}

/** A problem found after zod, with the error code it is reported under. */
interface CheckIssue {
  code: HarnessErrorCode;
  path: Array<string | number>;
  message: string;
  hint: string;
  details?: Record<string, unknown>;
  /** 0-based index of the offending character inside the string at `path` (a `trigger_on` expression). */
  offset?: number;
}

const yamlHints: Record<string, string> = {
  TAB_AS_INDENT: 'indent with spaces, not tabs',
  DUPLICATE_KEY: 'remove or rename one of the two keys',
  MISSING_CHAR: 'close the quote or bracket that was opened before this point',
  BAD_INDENT: 'indent this line like its siblings (the same number of spaces)',
  MULTIPLE_DOCS: 'keep one YAML document per file (remove the extra "---")',
  BLOCK_AS_IMPLICIT_KEY:
    'put a nested mapping on its own indented lines, or quote a value that contains ": "',
  MULTILINE_IMPLICIT_KEY: 'keep each key on one line, or quote the value',
  BAD_ALIAS: 'define the anchor (&name) before using the alias (*name)',
};

function syntaxError(error: YAMLParseError, file: string | undefined): HarnessError {
  // The library's message ends with " at line L, column C:" and a code frame; keep the reason.
  const reason = (error.message.split('\n')[0] ?? error.message).replace(/ at line \d+, column \d+:?$/, '');
  const position = error.linePos?.[0];
  return new HarnessError('config_yaml_syntax', `invalid YAML: ${reason}`, {
    cause: error,
    location: {
      ...(file === undefined ? {} : { file }),
      path: '',
      ...(position === undefined ? {} : { line: position.line, column: position.col }),
    },
    hint: yamlHints[error.code] ?? 'check the indentation (spaces only) and the quoting near this position',
    details: { yamlCode: error.code },
  });
}

/** No content at all: an empty text, only comments, or a bare `---` (an empty null scalar). */
function isEmpty(doc: Document): boolean {
  const contents = doc.contents;
  if (contents === null) return true;
  if (!isScalar(contents) || contents.value !== null) return false;
  const range = contents.range;
  return range === undefined || range === null || range[0] === range[1];
}

function toJS(doc: Document, file: string | undefined): unknown {
  try {
    // maxAliasCount bounds alias expansion ("billion laughs"); 100 is the library default, made explicit.
    return doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new HarnessError('config_yaml_syntax', `invalid YAML: ${reason}`, {
      cause: error,
      location: { ...(file === undefined ? {} : { file }), path: '' },
      hint: 'use fewer aliases (*name), and define each anchor (&name) before its aliases',
    });
  }
}

interface Located {
  code: string;
  location: SourceLocation;
  message: string;
  hint: string;
  missing: boolean;
  path: Array<string | number>;
  details?: Record<string, unknown>;
}

function byPosition(a: Located, b: Located): number {
  const line = (a.location.line ?? Number.MAX_SAFE_INTEGER) - (b.location.line ?? Number.MAX_SAFE_INTEGER);
  if (line !== 0) return line;
  return (a.location.column ?? 0) - (b.location.column ?? 0);
}

function samePath(a: YamlPath, b: YamlPath): boolean {
  return a.length === b.length && a.every((segment, i) => segment === b[i]);
}

/**
 * The issue to report: the first in the file, except that a missing key yields to an
 * unknown key of the same map, which is usually the same key misspelt (`modle:`).
 */
function pickFirst(issues: readonly Located[]): Located | undefined {
  const first = issues[0];
  if (first === undefined || !first.missing) return first;
  const parent = first.path.slice(0, -1);
  return (
    issues.find((issue) => issue.code === 'unrecognized_keys' && samePath(issue.path.slice(0, -1), parent)) ??
    first
  );
}

function issueSummary(issue: Located): Record<string, unknown> {
  return {
    code: issue.code,
    path: issue.location.path,
    ...(issue.location.line === undefined
      ? {}
      : { line: issue.location.line, column: issue.location.column }),
    message: issue.message,
    hint: issue.hint,
  };
}

function throwFirst(issues: Located[], code: (issue: Located) => HarnessErrorCode): never {
  const sorted = [...issues].sort(byPosition);
  const first = pickFirst(sorted);
  if (first === undefined) throw new HarnessError('internal', 'no config issue to report');
  throw new HarnessError(code(first), first.message, {
    location: first.location,
    hint: first.hint,
    details: { ...first.details, issues: sorted.map(issueSummary) },
  });
}

function locateDescribed(issue: DescribedIssue, locator: YamlLocator): Located {
  return {
    code: issue.code,
    path: issue.path,
    location: locator.locate(issue.path, issue.target),
    message: issue.message,
    hint: issue.hint,
    // A refinement on an absent key (`endpoint` of a local model) is located at the map, like a missing key.
    missing: issue.missing || !locator.has(issue.path),
  };
}

function quoteList(values: readonly string[]): string {
  return values.length === 0 ? '(none)' : values.join(', ');
}

function duplicates(
  names: ReadonlyArray<{ name: string; path: Array<string | number> }>,
  what: (name: string) => string,
  fix: string,
  locator: YamlLocator,
): CheckIssue[] {
  const seen = new Map<string, Array<string | number>>();
  const out: CheckIssue[] = [];
  for (const { name, path } of names) {
    const first = seen.get(name);
    if (first === undefined) {
      seen.set(name, path);
      continue;
    }
    const line = locator.locate(first).line;
    out.push({
      code: 'config_invalid',
      path,
      message: `${what(name)}${line === undefined ? '' : ` (first defined at line ${line})`}`,
      hint: fix,
      details: { name },
    });
  }
  return out;
}

function unknownName(
  code: 'unknown_model' | 'unknown_skill',
  name: string,
  known: readonly string[],
  path: Array<string | number>,
): CheckIssue {
  const noun = code === 'unknown_model' ? 'model' : 'skill';
  const suggestion = didYouMean(name, known);
  const where =
    code === 'unknown_model' ? 'add it under models: or fix the name' : 'register the skill or fix the name';
  return {
    code,
    path,
    message: suggestion
      ? `unknown ${noun} "${name}" — did you mean "${suggestion}"?`
      : `unknown ${noun} "${name}"`,
    hint: `${suggestion ? `use "${suggestion}"; ` : ''}known ${noun}s: ${quoteList(known)}; ${where}`,
    details: { [noun]: name, known: [...known], ...(suggestion ? { suggestion } : {}) },
  };
}

/** A `trigger_on` expression that does not parse, located at the offending character. */
function triggerIssue(expression: string, path: Array<string | number>): CheckIssue | undefined {
  try {
    parseTrigger(expression);
    return undefined;
  } catch (error) {
    if (!HarnessError.isInstance(error) || error.code !== 'trigger_invalid') throw error;
    const column = error.details.column;
    return {
      code: 'trigger_invalid',
      path,
      message: error.message,
      hint: error.hint ?? 'write comparisons such as confidence < 0.6 joined by and, or, not',
      details: error.details,
      ...(typeof column === 'number' ? { offset: column - 1 } : {}),
    };
  }
}

/** Checks zod cannot express: unique names and references between sections. */
function crossCheck(
  file: ConfigFileYaml,
  locator: YamlLocator,
  knownSkills?: readonly string[],
  mcpServers: readonly string[] = [],
): CheckIssue[] {
  const issues: CheckIssue[] = [];
  const models = file.models ?? [];
  issues.push(
    ...duplicates(
      models.map((model, i) => ({ name: model.id, path: ['models', i, 'id'] })),
      (name) => `duplicate model id "${name}"`,
      'give each model a unique id, or remove one of the two entries',
      locator,
    ),
  );
  const councils = file.councils ?? [];
  issues.push(
    ...duplicates(
      councils.map((council, i) => ({ name: council.name, path: ['councils', i, 'name'] })),
      (name) => `duplicate council name "${name}"`,
      'give each council a unique name',
      locator,
    ),
  );
  // Without `models:` the ids may come from another file; the registry checks them at run time.
  const modelIds = file.models === undefined ? undefined : models.map((model) => model.id);
  issues.push(...ensembleChecks(models));
  issues.push(...canaryChecks(models));
  councils.forEach((council, c) => {
    if (
      modelIds !== undefined &&
      council.embedding_model !== undefined &&
      !modelIds.includes(council.embedding_model)
    ) {
      issues.push(
        unknownName('unknown_model', council.embedding_model, modelIds, ['councils', c, 'embedding_model']),
      );
    }
    issues.push(
      ...duplicates(
        council.agents.map((agent, a) => ({ name: agent.name, path: ['councils', c, 'agents', a, 'name'] })),
        (name) => `duplicate agent name "${name}" in council "${council.name}"`,
        'give each agent of a council a unique name',
        locator,
      ),
    );
    council.recursion?.trigger_on?.forEach((expression, t) => {
      const issue = triggerIssue(expression, ['councils', c, 'recursion', 'trigger_on', t]);
      if (issue !== undefined) issues.push(issue);
    });
    council.agents.forEach((agent, a) => {
      const base = ['councils', c, 'agents', a];
      if (modelIds !== undefined) {
        if (!modelIds.includes(agent.model)) {
          issues.push(unknownName('unknown_model', agent.model, modelIds, [...base, 'model']));
        }
        agent.fallback?.forEach((id, f) => {
          if (!modelIds.includes(id))
            issues.push(unknownName('unknown_model', id, modelIds, [...base, 'fallback', f]));
        });
        if (agent.escalate_to !== undefined && !modelIds.includes(agent.escalate_to)) {
          issues.push(unknownName('unknown_model', agent.escalate_to, modelIds, [...base, 'escalate_to']));
        }
      }
      const agentNames = council.agents.map((other) => other.name);
      agent.subagents?.forEach((name, s) => {
        if (agentNames.includes(name)) return;
        const guess = didYouMean(name, agentNames);
        issues.push({
          code: 'config_invalid',
          path: [...base, 'subagents', s],
          message: `agent "${agent.name}" lists unknown sub-agent "${name}"${guess ? ` — did you mean "${guess}"?` : ''}`,
          hint: `sub-agents are agents of the same council: ${quoteList(agentNames)}`,
        });
      });
      if (knownSkills !== undefined) {
        agent.skills?.forEach((skill, s) => {
          // An MCP server's tools are known once it runs: `<server>_<tool>` is accepted here.
          if (!knownSkills.includes(skill) && !mcpServers.some((server) => skill.startsWith(`${server}_`))) {
            issues.push(unknownName('unknown_skill', skill, knownSkills, [...base, 'skills', s]));
          }
        });
      }
    });
  });
  issues.push(...strategyIssues(file, locator, modelIds));
  return issues;
}

/**
 * `type: ensemble` models: the spec's own rules (shared with the registry), member, judge and
 * embedding model ids that exist, and no ensemble that contains itself through other ensembles.
 */
function ensembleChecks(models: readonly ModelEntryYaml[]): CheckIssue[] {
  const issues: CheckIssue[] = [];
  const ids = models.map((model) => model.id);
  const specs = new Map<string, EnsembleSpec>();
  for (const model of models)
    if (model.ensemble !== undefined) specs.set(model.id, toEnsembleSpec(model.ensemble));
  models.forEach((model, m) => {
    const spec = model.ensemble === undefined ? undefined : specs.get(model.id);
    if (spec === undefined) return;
    const base = ['models', m];
    for (const issue of ensembleIssues(model.id, spec)) {
      issues.push({
        code: 'config_invalid',
        // Only the spec's own keys are camelCase; a weights key is a model id, kept as written.
        path: [
          ...base,
          ...issue.path.map((segment) => (segment === 'embeddingModel' ? 'embedding_model' : segment)),
        ],
        message: issue.message,
        hint: issue.hint,
      });
    }
    spec.members.forEach((member, i) => {
      if (!ids.includes(member))
        issues.push(unknownName('unknown_model', member, ids, [...base, 'ensemble', 'members', i]));
    });
    if (spec.judge !== undefined && !ids.includes(spec.judge)) {
      issues.push(unknownName('unknown_model', spec.judge, ids, [...base, 'ensemble', 'judge']));
    }
    if (spec.embeddingModel !== undefined && !ids.includes(spec.embeddingModel)) {
      issues.push(
        unknownName('unknown_model', spec.embeddingModel, ids, [...base, 'ensemble', 'embedding_model']),
      );
    }
    const cycle = findEnsembleCycle(model.id, (id) => specs.get(id));
    // A self-listing ensemble is already reported by ensembleIssues.
    if (cycle !== undefined && cycle.length > 2) {
      const next = cycle[1] as string;
      const member = spec.members.indexOf(next);
      issues.push({
        code: 'config_invalid',
        path: member >= 0 ? [...base, 'ensemble', 'members', member] : [...base, 'ensemble', 'judge'],
        message: `ensemble "${model.id}" contains itself: ${cycle.join(' → ')}`,
        hint: 'an ensemble cannot be its own member or judge, directly or through another ensemble',
        details: { model: model.id, cycle },
      });
    }
  });
  return issues;
}

/**
 * Every council's strategy options, checked by the same code as the `Council` constructor and
 * located in the file: unknown agent names, options of another strategy, cycles (`graph_cycle`,
 * with the location of every edge in `details.edges` and the hint), and an unknown router model.
 */
function strategyIssues(
  file: ConfigFileYaml,
  locator: YamlLocator,
  modelIds: readonly string[] | undefined,
): CheckIssue[] {
  const issues: CheckIssue[] = [];
  (file.councils ?? []).forEach((council, c) => {
    const at = (path: ReadonlyArray<string | number>): Array<string | number> => [
      'councils',
      c,
      ...path.map((segment) =>
        typeof segment === 'string'
          ? segment.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)
          : segment,
      ),
    ];
    for (const issue of checkStrategy(toCouncilSpec(council), 'yaml')) {
      const edges = issue.edges?.map((edge) => {
        const location = locator.locate(at(edge.path));
        return { from: edge.from, to: edge.to, ...location };
      });
      issues.push({
        code: issue.code,
        path: at(issue.path),
        message: issue.message,
        hint:
          edges === undefined
            ? issue.hint
            : `${issue.hint}: ${edges
                .map((edge) => `${edge.path}${edge.line === undefined ? '' : ` (line ${edge.line})`}`)
                .join(', ')}`,
        ...(issue.details === undefined && edges === undefined
          ? {}
          : { details: { ...issue.details, ...(edges === undefined ? {} : { edges }) } }),
      });
    }
    const model = council.router?.model;
    if (modelIds !== undefined && model !== undefined && !modelIds.includes(model)) {
      issues.push(unknownName('unknown_model', model, modelIds, ['councils', c, 'router', 'model']));
    }
  });
  return issues;
}

/** Drops `undefined` properties, so optional fields are absent rather than `undefined`. */
function compact<T extends Record<string, unknown>>(
  value: T,
): { [K in keyof T as undefined extends T[K] ? never : K]: T[K] } & {
  [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined>;
} {
  const out: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(value)) if (entry !== undefined) out[key] = entry;
  return out as never;
}

/**
 * `type: canary` models: stable and candidate are other model ids of the file, two different
 * ones, and no canary reaches itself through other canaries (the registry also refuses a cycle
 * through an ensemble when it builds the model).
 */
function canaryChecks(models: readonly ModelEntryYaml[]): CheckIssue[] {
  const issues: CheckIssue[] = [];
  const ids = models.map((model) => model.id);
  const links = new Map<string, string[]>();
  for (const model of models) {
    if (model.canary !== undefined) links.set(model.id, [model.canary.stable, model.canary.candidate]);
  }
  models.forEach((model, m) => {
    const canary = model.canary;
    if (canary === undefined) return;
    const base = ['models', m, 'canary'];
    for (const key of ['stable', 'candidate'] as const) {
      const id = canary[key];
      if (id === model.id) {
        issues.push({
          code: 'config_invalid',
          path: [...base, key],
          message: `canary "${model.id}" names itself as its ${key} model`,
          hint: 'the stable and candidate of a canary are two other models of models:',
          details: { model: model.id },
        });
      } else if (!ids.includes(id)) {
        issues.push(unknownName('unknown_model', id, ids, [...base, key]));
      }
    }
    if (canary.stable === canary.candidate) {
      issues.push({
        code: 'config_invalid',
        path: [...base, 'candidate'],
        message: `canary "${model.id}" has "${canary.stable}" as both its stable and its candidate model`,
        hint: 'a canary compares two different models: name the new one as candidate',
        details: { model: model.id },
      });
    }
    const cycle = findCanaryCycle(model.id, links);
    if (cycle !== undefined) {
      const next = cycle[1] as string;
      issues.push({
        code: 'config_invalid',
        path: [...base, canary.stable === next ? 'stable' : 'candidate'],
        message: `canary "${model.id}" contains itself: ${cycle.join(' → ')}`,
        hint: 'a canary cannot be its own stable or candidate model, directly or through another canary',
        details: { model: model.id, cycle },
      });
    }
  });
  return issues;
}

/** A path of canary links from `start` back to it (longer than one step), or undefined. */
function findCanaryCycle(start: string, links: ReadonlyMap<string, string[]>): string[] | undefined {
  const seen = new Set<string>();
  const walk = (id: string, path: string[]): string[] | undefined => {
    for (const next of links.get(id) ?? []) {
      // A canary naming itself is reported on its own.
      if (next === start && path.length > 1) return [...path, next];
      if (next === start || seen.has(next)) continue;
      seen.add(next);
      const found = walk(next, [...path, next]);
      if (found) return found;
    }
    return undefined;
  };
  return walk(start, [start]);
}

/** `canary:` in camelCase; a relative `state` file starts at the config file's folder, as `journal:` does. */
function toCanarySpec(
  canary: NonNullable<ModelEntryYaml['canary']>,
  baseDir: string | undefined,
): CanarySpec {
  const test = compact({
    alpha: canary.alpha,
    beta: canary.beta,
    minSamples: canary.min_samples,
    maxSamples: canary.max_samples,
    errorMargin: canary.error_margin,
    latencyMargin: canary.latency_margin,
    scoreMargin: canary.score_margin,
  });
  return compact({
    stable: canary.stable,
    candidate: canary.candidate,
    share: canary.share,
    state: canary.state === undefined ? undefined : (toJournalUrl(canary.state, baseDir) as string),
    test: Object.keys(test).length === 0 ? undefined : test,
  });
}

function toEnsembleSpec(ensemble: NonNullable<ModelEntryYaml['ensemble']>): EnsembleSpec {
  return compact({
    members: [...ensemble.members],
    vote: ensemble.vote,
    quorum: ensemble.quorum,
    // Weights are keyed by model id: no case mapping inside.
    weights: ensemble.weights === undefined ? undefined : { ...ensemble.weights },
    judge: ensemble.judge,
    embeddingModel: ensemble.embedding_model,
    similarity: ensemble.similarity,
  });
}

/** `timeouts:` in camelCase. */
function toTimeouts(timeouts: NonNullable<ModelEntryYaml['timeouts']>): ModelTimeouts {
  return compact({
    connectMs: timeouts.connect_ms,
    firstTokenMs: timeouts.first_token_ms,
    betweenTokensMs: timeouts.between_tokens_ms,
    totalMs: timeouts.total_ms,
  });
}

/** `breaker:` in camelCase. */
function toBreaker(breaker: NonNullable<ModelEntryYaml['breaker']>): Partial<BreakerOptions> {
  return compact({
    enabled: breaker.enabled,
    consecutiveFailures: breaker.consecutive_failures,
    errorRate: breaker.error_rate,
    minCalls: breaker.min_calls,
    sampleMs: breaker.sample_ms,
    halfOpenAfterMs: breaker.half_open_after_ms,
  });
}

/** `hedge:` in camelCase. */
function toHedge(hedge: NonNullable<ModelEntryYaml['hedge']>): HedgeOptions {
  return compact({ afterMs: hedge.after_ms, after: hedge.after, max: hedge.max });
}

/** The top-level `gateway:` map in camelCase. */
function toGatewayDefaults(gateway: GatewayYaml): GatewayDefaults {
  return compact({
    timeouts: gateway.timeouts === undefined ? undefined : toTimeouts(gateway.timeouts),
    breaker: gateway.breaker === undefined ? undefined : toBreaker(gateway.breaker),
    hedge: gateway.hedge === undefined ? undefined : toHedge(gateway.hedge),
  });
}

/**
 * A provider entry's timeouts, breaker and hedge with the `gateway:` defaults under them (field
 * by field for timeouts and breaker; a hedge is taken whole). Ensembles and canaries only get
 * their own: their members' settings already apply to each member call.
 */
function gatewaySettings(
  model: ModelEntryYaml,
  defaults: GatewayDefaults | undefined,
): Pick<ModelEntry, 'timeouts' | 'breaker' | 'hedge'> {
  const own = {
    timeouts: model.timeouts === undefined ? undefined : toTimeouts(model.timeouts),
    breaker: model.breaker === undefined ? undefined : toBreaker(model.breaker),
    hedge: model.hedge === undefined ? undefined : toHedge(model.hedge),
  };
  if (defaults === undefined || model.type === 'ensemble' || model.type === 'canary') return compact(own);
  const merged = <T extends object>(base: T | undefined, mine: T | undefined) =>
    base === undefined && mine === undefined ? undefined : { ...base, ...mine };
  return compact({
    timeouts: merged(defaults.timeouts, own.timeouts),
    breaker: merged(defaults.breaker, own.breaker),
    hedge: own.hedge ?? defaults.hedge,
  });
}

function toModelEntry(model: ModelEntryYaml, baseDir?: string, defaults?: GatewayDefaults): ModelEntry {
  const keys = model.api_keys ?? (Array.isArray(model.api_key) ? model.api_key : undefined);
  return compact({
    id: model.id,
    type: model.type,
    model: model.model,
    api: model.api,
    apiKey: typeof model.api_key === 'string' ? model.api_key : undefined,
    apiKeys: keys === undefined ? undefined : [...keys],
    endpoint: model.endpoint,
    path: model.path,
    // Header names are sent as written: no case mapping inside `headers`.
    headers: model.headers === undefined ? undefined : { ...model.headers },
    contextWindow: model.context_window,
    maxOutputTokens: model.max_output_tokens,
    pricePerMtok: model.price_per_mtok === undefined ? undefined : { ...model.price_per_mtok },
    capabilities: model.capabilities === undefined ? undefined : [...model.capabilities],
    latencyThresholdMs: model.latency_threshold_ms,
    dimensions: model.dimensions,
    latencyMs: model.latency_ms,
    rules: model.rules?.map((rule) => ({ when: rule.when, reply: rule.reply })),
    rateLimits:
      model.rate_limits === undefined
        ? undefined
        : compact({
            rpm: model.rate_limits.rpm,
            tpm: model.rate_limits.tpm,
            maxConcurrency: model.rate_limits.max_concurrency,
          }),
    ensemble: model.ensemble === undefined ? undefined : toEnsembleSpec(model.ensemble),
    canary: model.canary === undefined ? undefined : toCanarySpec(model.canary, baseDir),
    ...gatewaySettings(model, defaults),
  });
}

function toAgentSpec(agent: AgentYaml): AgentSpec {
  return compact({
    name: agent.name,
    model: agent.model,
    fallback: agent.fallback === undefined ? undefined : [...agent.fallback],
    instructions: agent.instructions,
    skills: agent.skills === undefined ? undefined : [...agent.skills],
    maxTokens: agent.max_tokens,
    temperature: agent.temperature,
    maxSteps: agent.max_steps,
    description: agent.description,
    dependsOn: agent.depends_on === undefined ? undefined : [...agent.depends_on],
    weight: agent.weight,
    subagents: agent.subagents === undefined ? undefined : [...agent.subagents],
    confidence: agent.confidence,
    escalateTo: agent.escalate_to,
  });
}

function toCouncilSpec(council: CouncilYaml): CouncilSpec {
  const recursion = council.recursion;
  return compact({
    name: council.name,
    description: council.description,
    strategy: council.strategy,
    merge: council.merge,
    vote: council.vote === undefined ? undefined : compact({ ...council.vote }),
    debate: council.debate === undefined ? undefined : compact({ ...council.debate }),
    router:
      council.router === undefined
        ? undefined
        : compact({
            routes: council.router.routes?.map((route) => ({ when: route.when, agent: route.agent })),
            model: council.router.model,
            default: council.router.default,
          }),
    output: council.output,
    memory: council.memory,
    embeddingModel: council.embedding_model,
    recursionDepth: council.recursion_depth,
    recursion:
      recursion === undefined
        ? undefined
        : compact({
            maxDepth: recursion.max_depth,
            triggerOn: recursion.trigger_on === undefined ? undefined : [...recursion.trigger_on],
            fallback: recursion.fallback,
          }),
    knowledge: council.knowledge?.map((document) =>
      typeof document === 'string'
        ? document
        : compact({
            id: document.id,
            text: document.text,
            meta: document.meta === undefined ? undefined : { ...document.meta },
          }),
    ),
    priority: council.priority,
    limits:
      council.limits === undefined
        ? undefined
        : compact({
            tokens: council.limits.tokens,
            costUsd: council.limits.cost_usd,
            wallTimeMs: council.limits.wall_time_ms,
            modelCalls: council.limits.model_calls,
            depth: council.limits.depth,
          }),
    agents: council.agents.map(toAgentSpec),
  });
}

/**
 * The `skills:` entries: each bundle's SKILL.md is read now (a bad bundle throws
 * `skill_bundle_invalid`, located in its SKILL.md or, for a missing folder, in the config), so
 * its name is known to the agent checks; MCP server and bundle names must be unique, and a
 * `name:` entry must name a known skill.
 */
function checkSkillEntries(
  file: ConfigFileYaml,
  baseDir: string,
  locator: YamlLocator,
  knownSkills: readonly string[] | undefined,
): { known: string[] | undefined; mcpServers: string[]; issues: CheckIssue[] } {
  const entries = file.skills ?? [];
  const bundles: Array<{ name: string; path: Array<string | number> }> = [];
  const servers: Array<{ name: string; path: Array<string | number> }> = [];
  entries.forEach((entry, i) => {
    if (entry.bundle !== undefined) {
      const path = ['skills', i, 'bundle'];
      try {
        bundles.push({ name: readSkillBundleManifest(resolve(baseDir, entry.bundle)).name, path });
      } catch (error) {
        if (!HarnessError.isInstance(error)) throw error;
        const listed = locator.locate(path);
        // A missing folder is the config's mistake; a bad SKILL.md is located in the SKILL.md.
        const inConfig = error.details.field === 'folder';
        const line = listed.line === undefined ? '' : `:${listed.line}`;
        throw new HarnessError(error.code, error.message, {
          cause: error.cause,
          location: inConfig ? listed : error.location,
          hint: inConfig
            ? 'give the path of a folder holding a SKILL.md, relative to the config file'
            : `${error.hint ?? ''} (bundle listed at ${listed.file ?? 'config'}${line} ${listed.path})`,
          details: { ...error.details, config: listed },
        });
      }
    } else if (entry.mcp !== undefined) {
      servers.push({ name: entry.mcp.name, path: ['skills', i, 'mcp', 'name'] });
    }
  });
  const issues = [
    ...duplicates(
      bundles,
      (name) => `two skill bundles are named "${name}"`,
      'give each SKILL.md a unique name',
      locator,
    ),
    ...duplicates(
      servers,
      (name) => `duplicate MCP server name "${name}"`,
      'give each MCP server a unique name (it prefixes its skills)',
      locator,
    ),
  ];
  const known = knownSkills === undefined ? undefined : [...knownSkills, ...bundles.map((b) => b.name)];
  if (known !== undefined) {
    entries.forEach((entry, i) => {
      if (entry.name !== undefined && !known.includes(entry.name)) {
        issues.push(unknownName('unknown_skill', entry.name, known, ['skills', i, 'name']));
      }
    });
  }
  return { known, mcpServers: servers.map((s) => s.name), issues };
}

function toSkillConfig(entry: SkillConfigYaml, baseDir: string | undefined): SkillConfig {
  const at = (path: string) => (baseDir === undefined ? path : resolve(baseDir, path));
  if (entry.bundle !== undefined) return { bundle: at(entry.bundle) };
  if (entry.mcp !== undefined) {
    const mcp = entry.mcp;
    return {
      mcp: compact({
        name: mcp.name,
        command: mcp.command,
        args: mcp.args === undefined ? undefined : [...mcp.args],
        env: mcp.env === undefined ? undefined : { ...mcp.env },
        // A stdio server starts in the config file's folder, so `args: [server.js]` works from there.
        cwd: mcp.command === undefined ? undefined : at(mcp.cwd ?? '.'),
        url: mcp.url,
        headers: mcp.headers === undefined ? undefined : { ...mcp.headers },
        connectTimeoutMs: mcp.connect_timeout_ms,
        callTimeoutMs: mcp.call_timeout_ms,
      }),
    };
  }
  return compact({
    name: entry.name as string,
    cache:
      entry.cache === undefined ? undefined : compact({ size: entry.cache.size, ttlMs: entry.cache.ttl_ms }),
  });
}

function toSchedulerOptions(scheduler: SchedulerYaml): SchedulerOptions {
  const councils = scheduler.councils;
  const providers = scheduler.providers;
  return compact({
    maxConcurrentRuns: scheduler.max_concurrent_runs,
    maxQueuedRuns: scheduler.max_queued_runs,
    agingMs: scheduler.aging_ms,
    loopSliceMs: scheduler.loop_slice_ms,
    councils:
      councils === undefined
        ? undefined
        : Object.fromEntries(
            Object.entries(councils).map(([name, cap]) => [
              name,
              compact({ maxConcurrentRuns: cap.max_concurrent_runs }),
            ]),
          ),
    providers:
      providers === undefined
        ? undefined
        : Object.fromEntries(
            Object.entries(providers).map(([type, limits]) => [
              type,
              compact({ rpm: limits?.rpm, tpm: limits?.tpm }),
            ]),
          ),
  });
}

/** A cap under `scheduler.councils` for a council the file does not define is almost surely a typo. */
function schedulerIssues(file: ConfigFileYaml): CheckIssue[] {
  const caps = file.scheduler?.councils;
  // Without `councils:` the names may come from another file or from code.
  if (caps === undefined || file.councils === undefined) return [];
  const known = file.councils.map((council) => council.name);
  return Object.keys(caps)
    .filter((name) => !known.includes(name))
    .map((name) => {
      const suggestion = didYouMean(name, known);
      return {
        code: 'unknown_council' as const,
        path: ['scheduler', 'councils', name],
        message: suggestion
          ? `scheduler cap for unknown council "${name}" — did you mean "${suggestion}"?`
          : `scheduler cap for unknown council "${name}"`,
        hint: `${suggestion ? `use "${suggestion}"; ` : ''}councils: ${quoteList(known)}`,
        details: { council: name, known, ...(suggestion ? { suggestion } : {}) },
      };
    });
}

/**
 * `journal: sqlite://rel/path` is relative to the config file, like `skills:` paths, so a
 * council's journal does not move with the directory `forge` happens to run in.
 */
function toJournalUrl(journal: string | false, baseDir: string | undefined): string | false {
  if (journal === false) return false;
  const path = journal.slice('sqlite://'.length);
  if (path === ':memory:' || baseDir === undefined) return journal;
  return `sqlite://${resolve(baseDir, path)}`;
}

/**
 * Maps a validated config file (snake_case) to the camelCase shapes of the runtime. Relative
 * `skills:` paths, the `journal:` path and canary `state:` paths are resolved against `baseDir`
 * when it is given.
 */
export function toHarnessConfig(file: ConfigFileYaml, baseDir?: string): HarnessConfig {
  return compact({
    scheduler: file.scheduler === undefined ? undefined : toSchedulerOptions(file.scheduler),
    skills: file.skills?.map((entry) => toSkillConfig(entry, baseDir)),
    models: (file.models ?? []).map((model) =>
      toModelEntry(model, baseDir, file.gateway === undefined ? undefined : toGatewayDefaults(file.gateway)),
    ),
    gateway: file.gateway === undefined ? undefined : toGatewayDefaults(file.gateway),
    councils: (file.councils ?? []).map(toCouncilSpec),
    journal: file.journal === undefined ? undefined : toJournalUrl(file.journal, baseDir),
    telemetry:
      file.telemetry === undefined
        ? undefined
        : compact({
            exporter: file.telemetry.exporter,
            endpoint: file.telemetry.endpoint,
            serviceName: file.telemetry.service_name,
          }),
  });
}

/**
 * Parses and validates the text of a config file. Throws one {@link HarnessError}:
 * `config_yaml_syntax` (YAML the library cannot parse), `config_invalid` (empty file, a
 * missing `${VAR}`, a schema violation, duplicate names), `unknown_model` or
 * `unknown_skill`; its `location` points at the offending node and, for schema and
 * cross-reference problems, `details.issues` lists every problem found.
 */
export function parseConfig(text: string, options: ParseConfigOptions = {}): LoadedConfig {
  const { file } = options;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax !== undefined) throw syntaxError(syntax, file);
  if (isEmpty(doc)) {
    throw new HarnessError('config_invalid', 'the file is empty; expected `models:` and/or `councils:`', {
      location: { ...(file === undefined ? {} : { file }), path: '', line: 1, column: 1 },
      hint: 'add a `models:` list and/or a `councils:` list (see the JSON Schema: `forge schema`)',
    });
  }
  const env: InterpolationEnv = options.env ?? process.env;
  interpolateDocument(doc, { env, lineCounter, source: text, ...(file === undefined ? {} : { file }) });
  const data = toJS(doc, file);
  const locator = createYamlLocator(doc, lineCounter, file, text);

  const parsed = configFileSchema.safeParse(data);
  if (!parsed.success) {
    const described = describeIssues(parsed.error.issues, data, configFileSchema);
    throwFirst(
      described.map((issue) => locateDescribed(issue, locator)),
      () => 'config_invalid',
    );
  }

  const baseDir = options.baseDir ?? (file === undefined ? process.cwd() : dirname(resolve(file)));
  const skillEntries = checkSkillEntries(parsed.data, baseDir, locator, options.knownSkills);
  const problems = [
    ...crossCheck(parsed.data, locator, skillEntries.known, [
      ...skillEntries.mcpServers,
      ...(options.skillSources ?? []),
    ]),
    ...skillEntries.issues,
    ...schedulerIssues(parsed.data),
  ];
  if (problems.length > 0) {
    const located = problems.map((problem) => ({
      code: problem.code,
      path: problem.path,
      location:
        problem.offset === undefined
          ? locator.locate(problem.path)
          : locator.locateInValue(problem.path, problem.offset),
      message: problem.message,
      hint: problem.hint,
      missing: false,
      ...(problem.details === undefined ? {} : { details: problem.details }),
    }));
    throwFirst(located, (issue) => issue.code as HarnessErrorCode);
  }

  return {
    ...toHarnessConfig(parsed.data, baseDir),
    ...(file === undefined ? {} : { file }),
    locate: (path) => locator.locate(path),
  };
}

/**
 * Reads and parses a config file (UTF-8). A file that cannot be read is `config_not_found`;
 * everything else is as in {@link parseConfig}.
 */
export async function loadConfigFile(
  path: string,
  options: Omit<ParseConfigOptions, 'file'> = {},
): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EISDIR'
          ? 'is a directory'
          : `cannot be read (${code ?? 'error'})`;
    throw new HarnessError('config_not_found', `config file ${path} ${reason}`, {
      cause: error,
      location: { file: path, path: '' },
      hint:
        code === 'ENOENT' || code === 'EISDIR'
          ? 'pass the path of your councils.yaml (relative paths start at the current directory) or create it'
          : 'check the file permissions',
      details: { path, ...(code === undefined ? {} : { errno: code }) },
    });
  }
  return parseConfig(text, { ...options, file: path });
}
