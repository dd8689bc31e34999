/**
 * Wraps an agent turn's gateway model with the run's journal and budget:
 * - before a live call the budget is checked (a reached limit throws `limit_exceeded`);
 * - a finished call is recorded under `<turn key>/call<n>`; when the run is resumed, a recorded
 *   call is replayed from the journal (its usage charged again to the run's totals, since it was
 *   paid for) and no provider is called;
 * - a stream is recorded only once it finished, so a stream cut by a crash runs again from its
 *   start: never replayed mid-output.
 */
import type {
  LanguageModelV4CallOptions,
  LanguageModelV4GenerateResult,
  LanguageModelV4StreamPart,
  LanguageModelV4StreamResult,
} from '@ai-sdk/provider';
import type { GatewayModel } from '../gateway/gateway-model.ts';
import type { Budget } from './budget.ts';
import { addUsage, type EventLog, type Usage } from './events.ts';
import type { RunJournal } from './journal.ts';

export interface JournaledModelOptions {
  gateway: GatewayModel;
  journal: RunJournal | undefined;
  runId: string;
  /** The turn's journal key; calls are `<key>/call1`, `<key>/call2`, ... in call order. */
  key: string;
  budget: Budget;
  /** Charged with a replayed call's recorded usage (the live path charges inside the gateway). */
  charge: readonly Usage[];
  log: EventLog;
  path: readonly string[];
  /** The output produced so far, for a `limit_exceeded` error's partial output. */
  partialOutput: () => string;
  /** USD of a call on a registry model (recorded with the call, charged again on replay). */
  costOf: (model: string, inputTokens: number, outputTokens: number) => number;
}

interface RecordedCall {
  model: string;
  stream: boolean;
  parts?: LanguageModelV4StreamPart[];
  result?: Omit<LanguageModelV4GenerateResult, 'request' | 'response'>;
}

/** Parts not worth keeping: raw provider chunks and metadata (their dates do not survive JSON). */
const unrecorded = new Set(['raw', 'response-metadata']);

export function journaledModel(options: JournaledModelOptions): GatewayModel {
  const { gateway, journal, runId, key, budget, charge, log, path } = options;
  let calls = 0;
  let replayedModel: string | undefined;

  const replay = (callKey: string): RecordedCall | undefined => {
    const step = journal?.step(runId, callKey);
    if (!step) return undefined;
    const recorded = step.output as RecordedCall;
    if (step.usage) for (const usage of charge) addUsage(usage, step.usage);
    replayedModel = recorded.model;
    log.emit(path, { type: 'step-replayed', key: callKey });
    return recorded;
  };
  const record = (callKey: string, call: RecordedCall, usage: Usage) =>
    journal?.recordStep(runId, { key: callKey, kind: 'model', output: call, usage });

  return {
    specificationVersion: 'v4',
    provider: gateway.provider,
    modelId: gateway.modelId,
    supportedUrls: gateway.supportedUrls,
    answeredBy: () => replayedModel ?? gateway.answeredBy(),
    flush: (upTo) => gateway.flush(upTo),

    async doGenerate(call: LanguageModelV4CallOptions): Promise<LanguageModelV4GenerateResult> {
      const callKey = `${key}/call${++calls}`;
      const recorded = replay(callKey);
      if (recorded?.result) return recorded.result as LanguageModelV4GenerateResult;
      budget.check(options.partialOutput());
      replayedModel = undefined;
      const result = await gateway.doGenerate(call);
      if (!journal) return result;
      const { request: _request, response: _response, ...kept } = result;
      const model = gateway.answeredBy() ?? gateway.modelId;
      record(
        callKey,
        { model, stream: false, result: kept },
        usageOf(model, result.usage, result.providerMetadata),
      );
      return result;
    },

    async doStream(call: LanguageModelV4CallOptions): Promise<LanguageModelV4StreamResult> {
      const callKey = `${key}/call${++calls}`;
      const recorded = replay(callKey);
      if (recorded?.parts) {
        const parts = recorded.parts;
        return {
          stream: new ReadableStream<LanguageModelV4StreamPart>({
            start(controller) {
              for (const part of parts) controller.enqueue(part);
              controller.close();
            },
          }),
        };
      }
      budget.check(options.partialOutput());
      replayedModel = undefined;
      const result = await gateway.doStream(call);
      // Without a journal nothing is recorded: no extra stream stage on the hot path.
      if (!journal) return result;
      const parts: LanguageModelV4StreamPart[] = [];
      let failed = false;
      const recorder = new TransformStream<LanguageModelV4StreamPart, LanguageModelV4StreamPart>({
        transform(part, controller) {
          if (part.type === 'error') failed = true;
          else if (!unrecorded.has(part.type)) parts.push(part);
          if (part.type === 'finish' && !failed) {
            const model = gateway.answeredBy() ?? gateway.modelId;
            record(
              callKey,
              { model, stream: true, parts },
              usageOf(model, part.usage, part.providerMetadata),
            );
          }
          controller.enqueue(part);
        },
      });
      return { ...result, stream: result.stream.pipeThrough(recorder) };
    },
  };

  function usageOf(
    model: string,
    u: LanguageModelV4GenerateResult['usage'],
    metadata: LanguageModelV4GenerateResult['providerMetadata'],
  ): Usage {
    const inputTokens = u.inputTokens.total ?? 0;
    const outputTokens = u.outputTokens.total ?? 0;
    // An ensemble prices its members itself: its entry has no price of its own.
    const own = (metadata?.forge as { costUsd?: unknown } | undefined)?.costUsd;
    const costUsd = typeof own === 'number' ? own : options.costOf(model, inputTokens, outputTokens);
    return { inputTokens, outputTokens, costUsd, modelCalls: 1 };
  }
}
