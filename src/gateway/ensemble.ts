/**
 * Ensembles: one `LanguageModelV4` that sends each call to several models at once and returns
 * the answer they vote for. The model-level counterpart of the council `vote` strategy: a council
 * votes among agents (each with memory, skills, steps); an ensemble votes among models inside
 * one model call, so the gateway (fallback, retries, events, budgets) treats it like any model.
 *
 * Votes compare answers by one of four rules (exact, normalized, semantic, judge); each member's
 * vote weighs its weight (default 1). With a quorum `k` the call finishes as soon as one answer
 * weighs `k`, and the members still running are aborted (their requests are cut). The result's
 * `providerMetadata.forge.agreement` (winning weight / weight of the members that answered) is the
 * step's confidence for `trigger_on`.
 *
 * JSON answers (a call with `responseFormat: json`) agree when they are the same data, whatever
 * the key order or layout (exact, normalized and judge rules).
 *
 * Tool calls vote like text: two answers agree when they call the same tools with the same
 * arguments (JSON compared with object keys sorted, call ids and order ignored), under every rule;
 * an answer with tool calls never agrees with a text-only one. So when members disagree on tool
 * calls the heaviest agreeing group wins, and a tie goes to the first member in list order.
 */

import type {
  LanguageModelV4,
  LanguageModelV4CallOptions,
  LanguageModelV4Content,
  LanguageModelV4FinishReason,
  LanguageModelV4GenerateResult,
  LanguageModelV4Prompt,
  LanguageModelV4ResponseMetadata,
  LanguageModelV4StreamPart,
  LanguageModelV4StreamResult,
  LanguageModelV4Usage,
  SharedV4ProviderMetadata,
  SharedV4Warning,
} from '@ai-sdk/provider';
import { cosineSimilarity } from 'ai';
import { didYouMean } from '../config/did-you-mean.ts';
import { HarnessError } from '../errors.ts';
import type { Redactor } from '../models/credentials.ts';
import type { EnsembleSpec, EnsembleVote, ModelEntry } from '../models/types.ts';
import { toProviderError } from './provider-error.ts';

/** Embeds texts, one vector per text (a registry `Embedder` fits). */
export type EnsembleEmbed = (
  texts: string[],
  options?: { signal?: AbortSignal | undefined },
) => Promise<number[][]>;

/** Options of {@link createEnsembleModel}. */
export interface EnsembleModelOptions {
  /** A `type: ensemble` entry with its `ensemble` spec; its `id` names the ensemble in errors and metadata. */
  entry: ModelEntry;
  /**
   * The model of a member id. Called for every member on every call (so a registry's replaced
   * entries take effect at once): keep it cheap. A throw counts as that member failing.
   */
  resolveMember: (id: string) => LanguageModelV4;
  /** `vote: semantic`: embeds answers (required there). */
  embed?: EnsembleEmbed;
  /** `vote: judge`: the model that picks the best answer (required there). */
  judge?: LanguageModelV4;
  /**
   * USD of a call by model id (a member id, or the spec's `judge` id), for
   * `providerMetadata.forge.costUsd`; default 0 (no prices known).
   */
  costOf?: (modelId: string, inputTokens: number, outputTokens: number) => number;
  /** Secrets to scrub from member errors. */
  redactor?: Redactor;
}

/** Default `similarity` of `vote: semantic`: cosine similarity from which two answers agree. */
export const defaultEnsembleSimilarity = 0.9;

/** One problem with an ensemble spec; `path` is relative to the model entry, camelCase. */
export interface EnsembleIssue {
  path: Array<string | number>;
  message: string;
  hint: string;
}

/**
 * The checks of an ensemble spec that need no other entry: at least two members without repeats
 * and without the ensemble itself, weights only for members, a quorum within the members' total
 * weight, `judge` with (and only with) `vote: judge`, `embeddingModel`/`similarity` with (and only
 * with) `vote: semantic`. Member ids and cycles are checked by the registry and the loader.
 */
export function ensembleIssues(id: string, spec: EnsembleSpec): EnsembleIssue[] {
  const issues: EnsembleIssue[] = [];
  const at = (...path: Array<string | number>) => ['ensemble', ...path];
  if (spec.members.length < 2) {
    issues.push({
      path: at('members'),
      message: `ensemble "${id}" needs at least two members, found ${spec.members.length}`,
      hint: 'list two or more model ids under members (a single model needs no ensemble)',
    });
  }
  const seen = new Set<string>();
  spec.members.forEach((member, i) => {
    if (member === id) {
      issues.push({
        path: at('members', i),
        message: `ensemble "${id}" lists itself as a member`,
        hint: 'members are other model ids',
      });
    } else if (seen.has(member)) {
      issues.push({
        path: at('members', i),
        message: `ensemble "${id}" lists member "${member}" twice`,
        hint: 'list each model once; give it more weight with weights instead',
      });
    }
    seen.add(member);
  });
  for (const [member, weight] of Object.entries(spec.weights ?? {})) {
    if (!seen.has(member)) {
      issues.push({
        path: at('weights', member),
        message: `ensemble "${id}" weighs "${member}", which is not one of its members`,
        hint: `weights are for members: ${spec.members.join(', ')}`,
      });
    } else if (!(weight > 0) || !Number.isFinite(weight)) {
      issues.push({
        path: at('weights', member),
        message: `the weight of "${member}" must be a number > 0, found ${weight}`,
        hint: 'use 1 for an ordinary vote, 2 for a vote that counts double',
      });
    }
  }
  const total = [...seen].reduce((sum, member) => sum + (spec.weights?.[member] ?? 1), 0);
  if (spec.quorum !== undefined && !(spec.quorum > 0 && spec.quorum <= total)) {
    issues.push({
      path: at('quorum'),
      message: `the quorum of ensemble "${id}" must be > 0 and at most the members' total weight ${total}, found ${spec.quorum}`,
      hint: `use a quorum between 1 and ${total} (e.g. ${Math.floor(total / 2) + 1} for a majority), or leave it out to hear every member`,
    });
  }
  const vote = spec.vote ?? 'normalized';
  // A missing key has no line of its own: point at the `vote` that asks for it.
  if (vote === 'judge' && spec.judge === undefined) {
    issues.push({
      path: at('vote'),
      message: `ensemble "${id}" votes by judge but names no judge model`,
      hint: 'set judge: <model id>, or use vote: normalized',
    });
  }
  if (vote !== 'judge' && spec.judge !== undefined) {
    issues.push({
      path: at('judge'),
      message: '`judge` is only valid with vote: judge',
      hint: 'set vote: judge, or remove judge',
    });
  }
  if (vote === 'semantic' && spec.embeddingModel === undefined) {
    issues.push({
      path: at('vote'),
      message: `ensemble "${id}" votes by semantic similarity but names no embedding model`,
      hint: 'set embedding_model: <model id of an embedding model>, or use vote: normalized',
    });
  }
  for (const key of ['embeddingModel', 'similarity'] as const) {
    if (vote !== 'semantic' && spec[key] !== undefined) {
      issues.push({
        path: at(key),
        message: `\`${key === 'embeddingModel' ? 'embedding_model' : key}\` is only valid with vote: semantic`,
        hint: 'set vote: semantic, or remove it',
      });
    }
  }
  if (spec.similarity !== undefined && !(spec.similarity >= 0 && spec.similarity <= 1)) {
    issues.push({
      path: at('similarity'),
      message: `similarity must be between 0 and 1, found ${spec.similarity}`,
      hint: `cosine similarity from which two answers count as the same (default ${defaultEnsembleSimilarity})`,
    });
  }
  return issues;
}

/**
 * A cycle of ensembles through `start` (member and judge edges), as the ids along it with `start`
 * at both ends, e.g. `['a', 'b', 'a']`; undefined when there is none. `specOf` gives the spec of an
 * ensemble id and undefined for any other model.
 */
export function findEnsembleCycle(
  start: string,
  specOf: (id: string) => EnsembleSpec | undefined,
): string[] | undefined {
  const visited = new Set<string>();
  const walk = (id: string, path: string[]): string[] | undefined => {
    const spec = specOf(id);
    if (spec === undefined) return undefined;
    for (const next of [...spec.members, ...(spec.judge === undefined ? [] : [spec.judge])]) {
      if (next === start) return [...path, next];
      if (visited.has(next)) continue;
      visited.add(next);
      const found = walk(next, [...path, next]);
      if (found) return found;
    }
    return undefined;
  };
  return walk(start, [start]);
}

/** A member's answer, read to the end. */
interface Answer {
  content: LanguageModelV4Content[];
  /** Stream only: the member's parts (no `stream-start`, no `finish`), replayed if it wins. */
  parts: LanguageModelV4StreamPart[] | undefined;
  text: string;
  /** Canonical tool calls (sorted JSON); undefined for a text-only answer. */
  toolKey: string | undefined;
  finishReason: LanguageModelV4FinishReason;
  usage: LanguageModelV4Usage;
  providerMetadata: SharedV4ProviderMetadata | undefined;
  response: LanguageModelV4ResponseMetadata | undefined;
  warnings: SharedV4Warning[];
  embedding?: number[];
}

interface Member {
  id: string;
  index: number;
  weight: number;
  status: 'pending' | 'answered' | 'failed' | 'cancelled';
  answer?: Answer;
  error?: HarnessError;
  /** Usage of a member that answered after the vote was decided: spent, so still counted. */
  lateUsage?: LanguageModelV4Usage;
  controller: AbortController;
}

interface Group {
  members: Member[];
  weight: number;
  /** The heaviest member's weight: the first tie-break between groups. */
  heaviest: number;
  /** The member whose answer the group returns: the heaviest, then the first in list order. */
  lead: Member;
}

interface Verdict {
  group: Group;
  judge?: { pick: number | null; verdict?: string; error?: string };
}

/** How answers are keyed when a rule cannot run (semantic without embeddings, judge for quorum). */
function textKey(rule: 'exact' | 'normalized', text: string): string {
  if (rule === 'exact') return text.trim();
  return text
    .toLowerCase()
    .replace(/[\p{P}\p{S}]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** JSON with object keys sorted, so equal arguments written in another key order compare equal. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The canonical form of a JSON answer; undefined when the text is not JSON. */
function jsonKey(text: string): string | undefined {
  try {
    return canonical(JSON.parse(text));
  } catch {
    return undefined;
  }
}

function toolKeyOf(calls: ReadonlyArray<{ toolName: string; input: string }>): string | undefined {
  if (calls.length === 0) return undefined;
  const parse = (input: string): unknown => {
    try {
      return JSON.parse(input);
    } catch {
      return input;
    }
  };
  return calls
    .map((call) => `${call.toolName}(${canonical(parse(call.input))})`)
    .sort()
    .join(';');
}

const zeroUsage = (): LanguageModelV4Usage => ({
  inputTokens: { total: undefined, noCache: undefined, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: undefined, text: undefined, reasoning: undefined },
});

const plus = (a: number | undefined, b: number | undefined) =>
  a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0);

function addUsage(a: LanguageModelV4Usage, b: LanguageModelV4Usage): LanguageModelV4Usage {
  return {
    inputTokens: {
      total: plus(a.inputTokens.total, b.inputTokens.total),
      noCache: plus(a.inputTokens.noCache, b.inputTokens.noCache),
      cacheRead: plus(a.inputTokens.cacheRead, b.inputTokens.cacheRead),
      cacheWrite: plus(a.inputTokens.cacheWrite, b.inputTokens.cacheWrite),
    },
    outputTokens: {
      total: plus(a.outputTokens.total, b.outputTokens.total),
      text: plus(a.outputTokens.text, b.outputTokens.text),
      reasoning: plus(a.outputTokens.reasoning, b.outputTokens.reasoning),
    },
  };
}

function answerFromContent(result: LanguageModelV4GenerateResult): Answer {
  const text = result.content.map((part) => (part.type === 'text' ? part.text : '')).join('');
  const calls = result.content.filter((part) => part.type === 'tool-call');
  return {
    content: result.content,
    parts: undefined,
    text,
    toolKey: toolKeyOf(calls),
    finishReason: result.finishReason,
    usage: result.usage,
    providerMetadata: result.providerMetadata,
    response: result.response,
    warnings: result.warnings,
  };
}

/** Reads a member's stream to its end; an error part, a throw or a missing finish is a failure. */
async function readStream(
  id: string,
  result: LanguageModelV4StreamResult,
  signal: AbortSignal,
): Promise<Answer> {
  const reader = result.stream.getReader();
  // Some streams only notice an abort on their next chunk; cancelling the reader cuts them now.
  const onAbort = () => {
    reader.cancel(signal.reason).catch(() => {});
  };
  signal.addEventListener('abort', onAbort, { once: true });
  const parts: LanguageModelV4StreamPart[] = [];
  const content: LanguageModelV4Content[] = [];
  const texts = new Map<string, string>();
  let warnings: SharedV4Warning[] = [];
  let response: LanguageModelV4ResponseMetadata | undefined;
  let finish: Extract<LanguageModelV4StreamPart, { type: 'finish' }> | undefined;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      const part = next.value;
      if (part.type === 'error') throw part.error;
      if (part.type === 'finish') {
        finish = part;
        continue;
      }
      if (part.type === 'stream-start') {
        warnings = part.warnings;
        continue;
      }
      parts.push(part);
      if (part.type === 'response-metadata') {
        const { type: _type, ...metadata } = part;
        response = metadata;
      } else if (part.type === 'text-start') texts.set(part.id, '');
      else if (part.type === 'text-delta') texts.set(part.id, (texts.get(part.id) ?? '') + part.delta);
      else if (part.type === 'text-end') content.push({ type: 'text', text: texts.get(part.id) ?? '' });
      else if (part.type === 'tool-call') content.push(part);
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  signal.throwIfAborted();
  if (finish === undefined) {
    throw new HarnessError('provider_error', `model "${id}" ended its stream without finishing`, {
      isRetryable: true,
      details: { model: id, kind: 'stream_cut' },
    });
  }
  const calls = content.filter((part) => part.type === 'tool-call');
  return {
    content,
    parts,
    text: content.map((part) => (part.type === 'text' ? part.text : '')).join(''),
    toolKey: toolKeyOf(calls),
    finishReason: finish.finishReason,
    usage: finish.usage,
    providerMetadata: finish.providerMetadata,
    response,
    warnings,
  };
}

/** The conversation as plain text, for the judge. */
function transcript(prompt: LanguageModelV4Prompt): string {
  const lines: string[] = [];
  for (const message of prompt) {
    if (message.role === 'system') {
      lines.push(`system: ${message.content}`);
      continue;
    }
    for (const part of message.content) {
      if (part.type === 'text') lines.push(`${message.role}: ${part.text}`);
      else if (part.type === 'tool-call')
        lines.push(`${message.role} called ${part.toolName}(${canonical(part.input)})`);
      else if (part.type === 'tool-result')
        lines.push(`tool ${part.toolName} returned: ${canonical(part.output)}`);
    }
  }
  return lines.join('\n');
}

/** An answer as the judge reads it: its text, then its tool calls. */
function describeAnswer(answer: Answer): string {
  const calls = answer.content
    .filter((part) => part.type === 'tool-call')
    .map((call) => `calls ${call.toolName}(${call.input})`);
  return [answer.text.trim(), ...calls].filter(Boolean).join('\n');
}

/** Creates an ensemble model from a `type: ensemble` entry; see the module comment. */
export function createEnsembleModel(options: EnsembleModelOptions): LanguageModelV4 {
  const { entry, resolveMember, embed, judge, redactor } = options;
  const spec = entry.ensemble;
  const where = (path: ReadonlyArray<string | number>) => ({
    path: `ModelEntry(${entry.id}).${path.join('.')}`,
  });
  if (spec === undefined) {
    throw new HarnessError(
      'config_invalid',
      `model "${entry.id}" is of type ensemble but has no \`ensemble\` spec`,
      {
        location: where(['ensemble']),
        hint: 'add ensemble: { members: [<model id>, <model id>], vote: normalized }',
      },
    );
  }
  const [issue] = ensembleIssues(entry.id, spec);
  if (issue !== undefined) {
    throw new HarnessError('config_invalid', issue.message, {
      location: where(issue.path),
      hint: issue.hint,
    });
  }
  // A const the nested functions see as defined.
  const ensemble: EnsembleSpec = spec;
  const rule: EnsembleVote = ensemble.vote ?? 'normalized';
  if (rule === 'judge' && judge === undefined) {
    throw new HarnessError('config_invalid', `ensemble "${entry.id}" votes by judge but got no judge model`, {
      location: { path: 'createEnsembleModel.judge' },
      hint: 'pass judge: the model the spec names',
    });
  }
  if (rule === 'semantic' && embed === undefined) {
    throw new HarnessError(
      'config_invalid',
      `ensemble "${entry.id}" votes by semantic similarity but got no embed`,
      {
        location: { path: 'createEnsembleModel.embed' },
        hint: 'pass embed: texts → vectors (a registry embedder of the spec’s embedding model)',
      },
    );
  }
  const similarity = ensemble.similarity ?? defaultEnsembleSimilarity;
  const weightOf = (id: string) => ensemble.weights?.[id] ?? 1;
  const costOf = options.costOf ?? (() => 0);

  async function decide(call: LanguageModelV4CallOptions, stream: boolean) {
    const callerSignal = call.abortSignal;
    callerSignal?.throwIfAborted();
    // A JSON answer compares as data: key order and layout do not split the vote.
    const jsonMode = call.responseFormat?.type === 'json';
    const members: Member[] = ensemble.members.map((id, index) => ({
      id,
      index,
      weight: weightOf(id),
      status: 'pending',
      controller: new AbortController(),
    }));
    const total = members.reduce((sum, m) => sum + m.weight, 0);
    const quorum = ensemble.quorum;
    let pendingWeight = total;
    // Set when embeddings fail: semantic voting falls back to normalized matching.
    let embeddingError: HarnessError | undefined;

    const groups = (): Group[] => {
      const answered = members.filter((m) => m.status === 'answered');
      const byKey = new Map<string, Group>();
      const semantic: Group[] = [];
      for (const member of answered) {
        const answer = member.answer as Answer;
        let group: Group | undefined;
        if (answer.toolKey === undefined && rule === 'semantic' && answer.embedding !== undefined) {
          // Greedy in list order: an answer joins the first group whose lead it is close to.
          group = semantic.find(
            (g) =>
              cosineSimilarity(g.members[0]?.answer?.embedding ?? [], answer.embedding ?? []) >= similarity,
          );
          if (group === undefined) {
            group = { members: [], weight: 0, heaviest: 0, lead: member };
            semantic.push(group);
          }
        } else {
          const json = jsonMode ? jsonKey(answer.text) : undefined;
          const key =
            answer.toolKey !== undefined
              ? `tools:${answer.toolKey}`
              : json !== undefined
                ? `json:${json}`
                : `text:${textKey(rule === 'exact' ? 'exact' : 'normalized', answer.text)}`;
          group = byKey.get(key);
          if (group === undefined) {
            group = { members: [], weight: 0, heaviest: 0, lead: member };
            byKey.set(key, group);
          }
        }
        group.members.push(member);
        group.weight += member.weight;
        if (member.weight > group.heaviest) {
          group.heaviest = member.weight;
          group.lead = member;
        }
      }
      // Heaviest group; a tie goes to the group with the heavier member, then the first in list order.
      return [...byKey.values(), ...semantic].sort(
        (a, b) =>
          b.weight - a.weight ||
          b.heaviest - a.heaviest ||
          (a.members[0]?.index ?? 0) - (b.members[0]?.index ?? 0),
      );
    };

    let settle: () => void = () => {};
    const decided = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const check = () => {
      if (callerSignal?.aborted) return settle();
      if (quorum === undefined) {
        if (pendingWeight <= 0) settle();
        return;
      }
      const top = groups()[0]?.weight ?? 0;
      if (top >= quorum || top + pendingWeight < quorum || pendingWeight <= 0) settle();
    };

    const tasks = members.map(async (member) => {
      const signal =
        callerSignal === undefined
          ? member.controller.signal
          : AbortSignal.any([callerSignal, member.controller.signal]);
      try {
        const model = resolveMember(member.id);
        const memberCall = { ...call, abortSignal: signal };
        const answer = stream
          ? await readStream(member.id, await model.doStream(memberCall), signal)
          : answerFromContent(await model.doGenerate(memberCall));
        if (rule === 'semantic' && answer.toolKey === undefined && embeddingError === undefined) {
          try {
            const [vector] = await (embed as EnsembleEmbed)([answer.text], { signal });
            if (vector !== undefined) answer.embedding = vector;
          } catch (error) {
            if (signal.aborted) throw error;
            embeddingError = toProviderError(error, ensemble.embeddingModel ?? 'embedding', redactor, signal);
          }
        }
        if (member.controller.signal.aborted || callerSignal?.aborted) {
          member.status = 'cancelled';
          member.lateUsage = answer.usage;
        } else {
          member.status = 'answered';
          member.answer = answer;
        }
      } catch (error) {
        if (member.controller.signal.aborted && !callerSignal?.aborted) member.status = 'cancelled';
        else {
          member.status = 'failed';
          member.error = toProviderError(error, member.id, redactor, signal);
        }
      }
      pendingWeight -= member.weight;
      check();
    });
    check();
    await decided;
    for (const member of members) {
      if (member.status === 'pending') {
        member.controller.abort(
          new HarnessError('aborted', `ensemble "${entry.id}" was decided without "${member.id}"`),
        );
      }
    }
    // Members never outlive the call: wait until every aborted request has ended.
    await Promise.all(tasks);
    if (callerSignal?.aborted) {
      throw new HarnessError('aborted', `the call to ensemble "${entry.id}" was aborted`, {
        cause: callerSignal.reason,
      });
    }

    let ranked = groups();
    const failed = members.filter((m) => m.status === 'failed');
    const top = ranked[0];
    if (top === undefined || (quorum !== undefined && top.weight < quorum)) {
      throw noQuorum(entry.id, members, failed, quorum, top?.weight ?? 0);
    }
    // Without embeddings, semantic grouping is normalized matching (recorded in the metadata).
    if (rule === 'semantic' && embeddingError !== undefined) {
      for (const m of members) if (m.answer) delete m.answer.embedding;
      ranked = groups();
    }
    let usage = members.reduce(
      (sum, m) => (m.answer ? addUsage(sum, m.answer.usage) : m.lateUsage ? addUsage(sum, m.lateUsage) : sum),
      zeroUsage(),
    );
    let verdict: Verdict = { group: ranked[0] as Group };
    let judgeCost = 0;
    if (rule === 'judge' && ranked.length > 1) {
      const judged = await askJudge(call, ranked);
      verdict = judged.verdict;
      if (judged.usage) {
        usage = addUsage(usage, judged.usage);
        judgeCost = costOf(
          ensemble.judge as string,
          judged.usage.inputTokens.total ?? 0,
          judged.usage.outputTokens.total ?? 0,
        );
      }
    }
    const answeredWeight = members.reduce((sum, m) => sum + (m.status === 'answered' ? m.weight : 0), 0);
    const winner = verdict.group.lead;
    const memberCost = (m: Member) => {
      const u = m.answer?.usage ?? m.lateUsage;
      return u ? costOf(m.id, u.inputTokens.total ?? 0, u.outputTokens.total ?? 0) : 0;
    };
    const forge = {
      ensemble: entry.id,
      vote: rule,
      ...(quorum === undefined ? {} : { quorum }),
      agreement: answeredWeight > 0 ? verdict.group.weight / answeredWeight : 0,
      votes: verdict.group.weight,
      totalWeight: answeredWeight,
      winner: winner.id,
      members: members.map((m) => ({
        id: m.id,
        ok: m.status === 'answered',
        status: m.status,
        weight: m.weight,
        ...(m.answer ? { text: m.answer.text } : {}),
        ...(m.answer?.toolKey === undefined ? {} : { toolCalls: m.answer.toolKey }),
        ...(m.error ? { error: { code: m.error.code, message: m.error.message } } : {}),
        inputTokens: (m.answer?.usage ?? m.lateUsage)?.inputTokens.total ?? 0,
        outputTokens: (m.answer?.usage ?? m.lateUsage)?.outputTokens.total ?? 0,
        costUsd: memberCost(m),
      })),
      groups: ranked.map((g) => ({ members: g.members.map((m) => m.id), weight: g.weight })),
      costUsd: members.reduce((sum, m) => sum + memberCost(m), judgeCost),
      ...(verdict.judge === undefined
        ? {}
        : { judge: { model: ensemble.judge as string, ...verdict.judge } }),
      ...(embeddingError === undefined
        ? {}
        : { fallbackVote: 'normalized', embeddingError: embeddingError.message }),
    };
    return { answer: winner.answer as Answer, usage, forge };
  }

  /** Asks the judge to pick among the groups' answers; an unreadable or failed verdict keeps the top group. */
  async function askJudge(
    call: LanguageModelV4CallOptions,
    ranked: readonly Group[],
  ): Promise<{ verdict: Verdict; usage?: LanguageModelV4Usage }> {
    // Listed in member order, so the numbering does not depend on which answer is winning.
    const listed = [...ranked].sort((a, b) => (a.members[0]?.index ?? 0) - (b.members[0]?.index ?? 0));
    const question = [
      'Conversation:',
      transcript(call.prompt),
      'Candidate answers to its last message:',
      ...listed.map((g, i) => `[${i + 1}] ${describeAnswer(g.lead.answer as Answer)}`),
      'Reply with the number of the best answer only.',
    ].join('\n\n');
    const top = ranked[0] as Group;
    try {
      const result = await (judge as LanguageModelV4).doGenerate({
        prompt: [
          {
            role: 'system',
            content:
              'You compare candidate answers to the same request and pick the most correct and helpful one.',
          },
          { role: 'user', content: [{ type: 'text', text: question }] },
        ],
        temperature: 0,
        ...(call.abortSignal === undefined ? {} : { abortSignal: call.abortSignal }),
      });
      const reply = result.content
        .map((part) => (part.type === 'text' ? part.text : ''))
        .join('')
        .trim();
      const number = /\d+/.exec(reply);
      const picked = number === null ? undefined : listed[Number(number[0]) - 1];
      return {
        verdict: {
          group: picked ?? top,
          judge: {
            pick: picked === undefined ? null : listed.indexOf(picked) + 1,
            ...(picked ? {} : { verdict: reply.slice(0, 200) }),
          },
        },
        usage: result.usage,
      };
    } catch (error) {
      const failure = toProviderError(error, ensemble.judge as string, redactor, call.abortSignal);
      // Abort is terminal; any other judge failure should not waste the members' answers.
      if (failure.code === 'aborted') throw failure;
      return { verdict: { group: top, judge: { pick: null, error: failure.message } } };
    }
  }

  return {
    specificationVersion: 'v4',
    provider: 'forge-ensemble',
    modelId: entry.id,
    supportedUrls: {},
    async doGenerate(call): Promise<LanguageModelV4GenerateResult> {
      const { answer, usage, forge } = await decide(call, false);
      return {
        content: answer.content,
        finishReason: answer.finishReason,
        usage,
        providerMetadata: { ...answer.providerMetadata, forge },
        ...(answer.response === undefined ? {} : { response: withoutHeaders(answer.response) }),
        warnings: answer.warnings,
      };
    },
    async doStream(call): Promise<LanguageModelV4StreamResult> {
      const { answer, usage, forge } = await decide(call, true);
      const parts: LanguageModelV4StreamPart[] = [
        { type: 'stream-start', warnings: answer.warnings },
        ...(answer.parts ?? []),
        {
          type: 'finish',
          finishReason: answer.finishReason,
          usage,
          providerMetadata: { ...answer.providerMetadata, forge },
        },
      ];
      return {
        stream: new ReadableStream<LanguageModelV4StreamPart>({
          start(controller) {
            for (const part of parts) controller.enqueue(part);
            controller.close();
          },
        }),
      };
    },
  };
}

/** The winner's response metadata without its HTTP headers (they are another model's, not the ensemble's). */
function withoutHeaders(response: LanguageModelV4ResponseMetadata & { headers?: unknown; body?: unknown }) {
  const { headers: _headers, body: _body, ...rest } = response;
  return rest;
}

function noQuorum(
  id: string,
  members: readonly Member[],
  failed: readonly Member[],
  quorum: number | undefined,
  best: number,
): HarnessError {
  const failures = failed.map((m) => `${m.id}: ${m.error?.message ?? 'failed'}`).join('; ');
  const everyFailed = failed.length === members.length;
  const message = everyFailed
    ? `ensemble "${id}": every member failed — ${failures}`
    : `ensemble "${id}": no answer reached the quorum of ${quorum} (best: ${best})${failed.length > 0 ? `; failed members — ${failures}` : ''}`;
  return new HarnessError('no_quorum', message, {
    cause: failed[0]?.error,
    isRetryable: failed.length > 0 && failed.every((m) => m.error?.isRetryable === true),
    hint:
      failed.length > 0
        ? 'see each member’s error; add a fallback model to the agent, lower the quorum or add members'
        : 'the members disagree: lower the quorum, use vote normalized or semantic, or add members',
    details: {
      ensemble: id,
      quorum: quorum ?? null,
      best,
      failed: failed.map((m) => ({
        member: m.id,
        code: m.error?.code ?? 'internal',
        message: m.error?.message ?? '',
        ...(m.error?.details.kind === undefined ? {} : { kind: m.error.details.kind }),
      })),
    },
  });
}

/** What {@link ensembleFromRegistry} needs of a registry; `ModelRegistry` has all of it. */
export interface EnsembleRegistry {
  has(id: string): boolean;
  ids(): string[];
  entry(id: string): ModelEntry;
  resolve(id: string): { model: LanguageModelV4 };
  embedder(id: string): EnsembleEmbed;
}

/**
 * Builds the ensemble of `entry` over the registry's own models: checks that no ensemble contains
 * itself (`config_invalid` with the cycle), resolves every member (so an unknown id or a missing
 * key surfaces now, not at the first call), the judge and the embedding model. Members are
 * looked up again on every call, so replacing a member's entry takes effect at once.
 */
export function ensembleFromRegistry(
  registry: EnsembleRegistry,
  entry: ModelEntry,
  options: Pick<EnsembleModelOptions, 'costOf' | 'redactor'> = {},
): LanguageModelV4 {
  const spec = entry.ensemble;
  if (spec !== undefined) {
    const specOf = (id: string) => {
      if (!registry.has(id)) return undefined;
      const other = registry.entry(id);
      return other.type === 'ensemble' ? other.ensemble : undefined;
    };
    const cycle = findEnsembleCycle(entry.id, specOf);
    if (cycle !== undefined) {
      throw new HarnessError(
        'config_invalid',
        `ensemble "${entry.id}" contains itself: ${cycle.join(' → ')}`,
        {
          location: { path: `ModelEntry(${entry.id}).ensemble.members` },
          hint: 'an ensemble cannot be its own member or judge, directly or through another ensemble',
          details: { model: entry.id, cycle },
        },
      );
    }
    for (const [i, member] of spec.members.entries()) {
      if (!registry.has(member)) {
        const guess = didYouMean(member, registry.ids());
        throw new HarnessError('unknown_model', `ensemble "${entry.id}" lists unknown model "${member}"`, {
          location: { path: `ModelEntry(${entry.id}).ensemble.members.${i}` },
          hint: guess ? `did you mean "${guess}"?` : `known model ids: ${registry.ids().join(', ')}`,
          details: { model: member, ensemble: entry.id },
        });
      }
      registry.resolve(member);
    }
  }
  return createEnsembleModel({
    entry,
    resolveMember: (id) => registry.resolve(id).model,
    ...(spec?.judge === undefined ? {} : { judge: registry.resolve(spec.judge).model }),
    ...(spec?.embeddingModel === undefined || spec.vote !== 'semantic'
      ? {}
      : { embed: registry.embedder(spec.embeddingModel) }),
    ...options,
  });
}
