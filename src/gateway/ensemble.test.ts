import type { LanguageModelV4, LanguageModelV4StreamPart } from '@ai-sdk/provider';
import { APICallError } from '@ai-sdk/provider';
import { generateText, streamText } from 'ai';
import { describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import type { EnsembleSpec, ModelEntry } from '../models/types.ts';
import { ScriptedModel, type ScriptStep } from '../testing/scripted-model.ts';
import {
  createEnsembleModel,
  type EnsembleModelOptions,
  ensembleIssues,
  findEnsembleCycle,
} from './ensemble.ts';

const entry = (spec: Partial<EnsembleSpec> = {}): ModelEntry => ({
  id: 'ens',
  type: 'ensemble',
  ensemble: { members: ['a', 'b', 'c'], ...spec },
});

/** Members answering one step each, by id. */
function members(steps: Record<string, ScriptStep>, delayMs: Record<string, number> = {}) {
  const models = new Map(
    Object.entries(steps).map(([id, step]) => [
      id,
      new ScriptedModel({ steps: [step], modelId: id, delayMs: delayMs[id] ?? 0 }),
    ]),
  );
  return { models, resolveMember: (id: string) => models.get(id) as LanguageModelV4 };
}

interface Forge {
  winner: string;
  agreement: number;
  votes: number;
  members: Array<{
    id: string;
    status: string;
    error?: { code: string; message: string };
    inputTokens: number;
  }>;
  judge?: { pick: number | null; verdict?: string; error?: string };
  fallbackVote?: string;
  embeddingError?: string;
  costUsd: number;
}
const forgeOf = (metadata: unknown) => (metadata as { forge: Forge }).forge;

async function generate(options: EnsembleModelOptions) {
  const result = await generateText({ model: createEnsembleModel(options), prompt: 'q', maxRetries: 0 });
  return { text: result.text, forge: forgeOf(result.providerMetadata), result };
}

function caught(fn: () => unknown): HarnessError {
  try {
    fn();
  } catch (error) {
    if (HarnessError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('nothing thrown');
}

describe('ensembleIssues', () => {
  it('accepts a well-formed spec', () => {
    expect(ensembleIssues('ens', { members: ['a', 'b'], quorum: 3, weights: { a: 2 } })).toEqual([]);
    expect(ensembleIssues('ens', { members: ['a', 'b'], vote: 'judge', judge: 'j' })).toEqual([]);
    expect(
      ensembleIssues('ens', { members: ['a', 'b'], vote: 'semantic', embeddingModel: 'e', similarity: 1 }),
    ).toEqual([]);
  });

  it('names each problem at its path', () => {
    const paths = (spec: EnsembleSpec) => ensembleIssues('ens', spec).map((issue) => issue.path.join('.'));
    expect(paths({ members: ['a'] })).toEqual(['ensemble.members']);
    expect(paths({ members: ['a', 'ens', 'a'] })).toEqual(['ensemble.members.1', 'ensemble.members.2']);
    expect(paths({ members: ['a', 'b'], weights: { c: 1, b: 0 } })).toEqual([
      'ensemble.weights.c',
      'ensemble.weights.b',
    ]);
    expect(paths({ members: ['a', 'b'], weights: { a: 0.5 }, quorum: 1.6 })).toEqual(['ensemble.quorum']);
    expect(paths({ members: ['a', 'b'], vote: 'judge' })).toEqual(['ensemble.vote']);
    expect(paths({ members: ['a', 'b'], vote: 'semantic', embeddingModel: 'e', similarity: 1.5 })).toEqual([
      'ensemble.similarity',
    ]);
    expect(paths({ members: ['a', 'b'], judge: 'j', embeddingModel: 'e', similarity: 0.5 })).toEqual([
      'ensemble.judge',
      'ensemble.embeddingModel',
      'ensemble.similarity',
    ]);
  });
});

describe('findEnsembleCycle', () => {
  const specs: Record<string, EnsembleSpec> = {
    a: { members: ['x', 'b'] },
    b: { members: ['x', 'y'], vote: 'judge', judge: 'a' },
    c: { members: ['a', 'x'] },
    d: { members: ['x', 'y'] },
  };
  const specOf = (id: string) => specs[id];
  it('follows members and judges back to the start', () => {
    expect(findEnsembleCycle('a', specOf)).toEqual(['a', 'b', 'a']);
    expect(findEnsembleCycle('b', specOf)).toEqual(['b', 'a', 'b']);
  });
  it('is undefined when the start is not on a cycle', () => {
    expect(findEnsembleCycle('c', specOf)).toBeUndefined();
    expect(findEnsembleCycle('d', specOf)).toBeUndefined();
    expect(findEnsembleCycle('x', specOf)).toBeUndefined();
  });
});

describe('createEnsembleModel: options', () => {
  it('refuses a bad spec at its TS path, and a rule without what it needs', () => {
    const { resolveMember } = members({});
    const bad = caught(() => createEnsembleModel({ entry: entry({ quorum: 4 }), resolveMember }));
    expect(bad.code).toBe('config_invalid');
    expect(bad.location?.path).toBe('ModelEntry(ens).ensemble.quorum');
    const noSpec = caught(() =>
      createEnsembleModel({ entry: { id: 'ens', type: 'ensemble' }, resolveMember }),
    );
    expect(noSpec.location?.path).toBe('ModelEntry(ens).ensemble');
    const noJudge = caught(() =>
      createEnsembleModel({ entry: entry({ vote: 'judge', judge: 'j' }), resolveMember }),
    );
    expect(noJudge.location?.path).toBe('createEnsembleModel.judge');
    const noEmbed = caught(() =>
      createEnsembleModel({ entry: entry({ vote: 'semantic', embeddingModel: 'e' }), resolveMember }),
    );
    expect(noEmbed.location?.path).toBe('createEnsembleModel.embed');
  });
});

describe('createEnsembleModel: voting', () => {
  it('a tool-call answer never agrees with a text answer; equal tool calls agree', async () => {
    const call = { toolName: 'lookup', input: { q: 'x', n: 1 } };
    const { resolveMember } = members({
      a: { text: 'lookup x' },
      b: { toolCalls: [call] },
      c: { toolCalls: [{ toolName: 'lookup', input: { n: 1, q: 'x' } }], text: 'let me look' },
    });
    const { forge, result } = await generate({ entry: entry(), resolveMember });
    expect(forge).toMatchObject({ winner: 'b', votes: 2 });
    expect(result.content.filter((part) => part.type === 'tool-call')).toHaveLength(1);
    expect(result.finishReason).toBe('tool-calls');
  });

  it('a member that resolves or answers with an error is left out; usage sums what is known', async () => {
    const { models } = members({
      a: { text: 'yes', usage: { inputTokens: 3, outputTokens: 1 } },
      c: { text: 'yes' },
    });
    const resolveMember = (id: string) => {
      if (id === 'b') throw new HarnessError('missing_credential', 'no key for b');
      return models.get(id) as LanguageModelV4;
    };
    const { forge, result } = await generate({
      entry: entry(),
      resolveMember,
      costOf: (id, input, output) => (id === 'a' ? input + output : 0),
    });
    expect(forge.members.map((m) => m.status)).toEqual(['answered', 'failed', 'answered']);
    expect(forge.members[1]?.error?.code).toBe('missing_credential');
    expect(forge.agreement).toBe(1);
    expect(forge.costUsd).toBe(4);
    expect(result.usage.inputTokens).toBe(3 + (forge.members[2]?.inputTokens ?? Number.NaN));
  });

  it('every failure retryable → the no_quorum error is retryable too', async () => {
    const overloaded = () =>
      new APICallError({
        message: 'overloaded',
        url: 'http://x',
        requestBodyValues: {},
        statusCode: 503,
        isRetryable: true,
      });
    const { resolveMember } = members({
      a: { error: overloaded() },
      b: { error: overloaded() },
      c: { error: overloaded() },
    });
    const error = await generate({ entry: entry(), resolveMember }).catch((e: unknown) => e as HarnessError);
    expect(HarnessError.isInstance(error) && [error.code, error.isRetryable]).toEqual(['no_quorum', true]);
  });

  it('judge: an unreadable verdict or a failing judge leaves the weighted majority in place', async () => {
    const steps = { a: { text: 'x' }, b: { text: 'y' }, c: { text: 'y' } };
    const unreadable = await generate({
      entry: entry({ vote: 'judge', judge: 'j' }),
      ...members(steps),
      judge: new ScriptedModel({ steps: [{ text: 'both are fine' }] }),
    });
    expect(unreadable.text).toBe('y');
    expect(unreadable.forge.judge).toEqual({ model: 'j', pick: null, verdict: 'both are fine' });

    const failing = await generate({
      entry: entry({ vote: 'judge', judge: 'j' }),
      ...members(steps),
      judge: new ScriptedModel({ steps: [{ error: new Error('judge down') }] }),
    });
    expect(failing.text).toBe('y');
    expect(failing.forge.judge?.error).toContain('judge down');
  });

  it('semantic: when embeddings fail, answers are matched normalized (and the metadata says so)', async () => {
    const { resolveMember } = members({ a: { text: 'Yes!' }, b: { text: 'no' }, c: { text: 'yes' } });
    const { forge } = await generate({
      entry: entry({ vote: 'semantic', embeddingModel: 'e' }),
      resolveMember,
      embed: async () => {
        throw new Error('embedder down');
      },
    });
    expect(forge).toMatchObject({ winner: 'a', votes: 2, fallbackVote: 'normalized' });
    expect(forge.embeddingError).toContain('embedder down');
  });

  it('quorum: the slow member is aborted and its stream never read', async () => {
    const { resolveMember, models } = members(
      { a: { text: 'ok' }, b: { text: 'OK' }, c: { text: 'late' } },
      { c: 60_000 },
    );
    const started = Date.now();
    const { forge } = await generate({ entry: entry({ quorum: 2 }), resolveMember });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(forge.members.map((m) => m.status)).toEqual(['answered', 'answered', 'cancelled']);
    expect(models.get('c')?.calls[0]?.abortSignal?.aborted).toBe(true);
  });
});

describe('createEnsembleModel: streams', () => {
  /** A model whose stream ends without a finish part. */
  const unfinished: LanguageModelV4 = {
    specificationVersion: 'v4',
    provider: 'test',
    modelId: 'unfinished',
    supportedUrls: {},
    doGenerate: () => Promise.reject(new Error('stream only')),
    doStream: async () => ({
      stream: new ReadableStream<LanguageModelV4StreamPart>({
        start(controller) {
          controller.enqueue({ type: 'text-start', id: '0' });
          controller.enqueue({ type: 'text-delta', id: '0', delta: 'par' });
          controller.close();
        },
      }),
    }),
  };

  it('replays the winner’s parts and excludes members whose stream fails or never finishes', async () => {
    const scripted = members({
      a: { streamError: new Error('cut'), afterChunks: 1, stream: ['Par', 'is'] },
      c: { stream: ['Pa', 'ris'], usage: { inputTokens: 5, outputTokens: 2 } },
    });
    const resolveMember = (id: string) => (id === 'b' ? unfinished : scripted.resolveMember(id));
    const result = streamText({ model: createEnsembleModel({ entry: entry(), resolveMember }), prompt: 'q' });
    const deltas: string[] = [];
    for await (const delta of result.textStream) deltas.push(delta);
    expect(deltas).toEqual(['Pa', 'ris']);
    const forge = forgeOf(await result.providerMetadata);
    expect(forge.members.map((m) => [m.id, m.status])).toEqual([
      ['a', 'failed'],
      ['b', 'failed'],
      ['c', 'answered'],
    ]);
    expect(forge.members[1]?.error?.message).toBe('model "b" ended its stream without finishing');
    expect((await result.usage).inputTokens).toBe(5);
  });

  it('an abort by the caller is terminal', async () => {
    const { resolveMember } = members(
      { a: { text: 'x' }, b: { text: 'x' }, c: { text: 'x' } },
      { a: 60_000, b: 60_000, c: 60_000 },
    );
    const controller = new AbortController();
    const model = createEnsembleModel({ entry: entry(), resolveMember });
    const pending = model.doStream({ prompt: [], abortSignal: controller.signal });
    controller.abort(new Error('stop'));
    const error = await pending.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(HarnessError.isInstance(error) && error.code).toBe('aborted');
  });
});

describe('createEnsembleModel: JSON answers', () => {
  it('agree when they are the same data, whatever the key order and layout', async () => {
    const { resolveMember } = members({
      a: { text: '{"intent":"refund"}' },
      b: { text: '{ "confidence": 0.9,\n  "intent": "refund" }' },
      c: { text: '{"intent":"refund","confidence":0.9}' },
    });
    const model = createEnsembleModel({ entry: entry(), resolveMember });
    const result = await model.doGenerate({ prompt: [], responseFormat: { type: 'json' } });
    expect(forgeOf(result.providerMetadata)).toMatchObject({ winner: 'b', votes: 2 });
    // Without a JSON response format the same texts are three different answers.
    const plain = await createEnsembleModel({
      entry: entry(),
      ...members({
        a: { text: '{"intent":"refund"}' },
        b: { text: '{ "confidence": 0.9,\n  "intent": "refund" }' },
        c: { text: '{"intent":"refund","confidence":0.9}' },
      }),
    }).doGenerate({ prompt: [] });
    expect(forgeOf(plain.providerMetadata)).toMatchObject({ winner: 'a', votes: 1 });
  });
});
