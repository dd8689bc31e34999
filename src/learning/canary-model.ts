/**
 * Model canaries: a `type: canary` registry entry is one model id whose calls are split between
 * a stable and a candidate model. Every call (generate or stream) is routed by the
 * {@link CanaryController}, its outcome recorded (an error, or success with its latency: a
 * stream's from its start to its end), and the controller promotes or rolls back the candidate.
 * The gateway treats the canary like any model (retries, fallback, events): a retry is routed
 * again, so after a rollback even a retried call lands on the stable model.
 *
 * Decisions are reported through the controller's listeners (`registry.canaryController(id)`),
 * since a model call has no run of its own to report to.
 */
import type {
  LanguageModelV4,
  LanguageModelV4CallOptions,
  LanguageModelV4GenerateResult,
  LanguageModelV4StreamPart,
  LanguageModelV4StreamResult,
  LanguageModelV4Usage,
  SharedV4ProviderMetadata,
} from '@ai-sdk/provider';
import { didYouMean } from '../config/did-you-mean.ts';
import { HarnessError } from '../errors.ts';
import type { ModelEntry } from '../models/types.ts';
import type { CanaryController, CanaryRoute } from './canary.ts';
import type { CanaryTestOptions } from './sprt.ts';

/** Options of {@link createCanaryModel}. */
export interface CanaryModelOptions {
  /** The canary's model id: names it in metadata and errors; the canary's subject is `model:<id>`. */
  id: string;
  /** Model id in service. */
  stable: string;
  /** Model id on trial. */
  candidate: string;
  /** Share of calls routed to the candidate while the canary runs, (0, 1]; default 0.1. */
  share?: number;
  controller: CanaryController;
  /** The model of an id, looked up on every call (so a replaced registry entry takes effect at once). */
  resolve: (id: string) => LanguageModelV4;
  /** Test options of this canary, over the controller's. */
  test?: CanaryTestOptions;
  /** USD of a call by model id, for `providerMetadata.forge.costUsd` (default 0: no prices known). */
  costOf?: (modelId: string, inputTokens: number, outputTokens: number) => number;
}

/** What a canary adds to a result's `providerMetadata.forge`. */
export interface CanaryMetadata {
  /** The canary's subject (`model:<id>`). */
  subject: string;
  /** The model id that answered. */
  model: string;
  arm: 'stable' | 'candidate';
}

/** The canary's subject in its state file. */
export function canarySubject(id: string): string {
  return `model:${id}`;
}

/**
 * A `LanguageModelV4` that routes each call to the stable or the candidate model and records
 * how it went. Starts (or joins) the canary in the controller's state file at once. Results carry
 * `providerMetadata.forge.canary` ({@link CanaryMetadata}) and `providerMetadata.forge.costUsd`
 * (the answering model's price, unless it reported its own, as an ensemble does).
 */
export function createCanaryModel(options: CanaryModelOptions): LanguageModelV4 {
  const { id, controller, resolve } = options;
  const subject = canarySubject(id);
  const spec = {
    stable: options.stable,
    candidate: options.candidate,
    ...(options.share === undefined ? {} : { share: options.share }),
    ...(options.test === undefined ? {} : { test: options.test }),
  };
  // The options are checked now; the state file is written at the first call, so building the
  // model (as a reload does to validate a config it may still refuse) changes no canary.
  controller.check(subject, spec);
  let joined = false;
  /** Where a call goes: only ever one of this canary's two models. */
  const pick = (): CanaryRoute => {
    if (!joined) {
      controller.start(subject, spec);
      joined = true;
    }
    const chosen = controller.route(subject);
    // The file may hold a newer pair (a reload started another canary): calls of this model stay
    // on its own stable model, and are not counted for the other pair.
    return chosen.version === options.stable || chosen.version === options.candidate
      ? chosen
      : { arm: 'stable', version: options.stable, status: chosen.status };
  };
  const costOf = options.costOf ?? (() => 0);

  const metadata = (
    route: CanaryRoute,
    usage: LanguageModelV4Usage | undefined,
    given: SharedV4ProviderMetadata | undefined,
  ): SharedV4ProviderMetadata => {
    const forge = (given?.forge ?? {}) as Record<string, unknown>;
    const cost =
      typeof forge.costUsd === 'number'
        ? forge.costUsd
        : costOf(route.version, usage?.inputTokens.total ?? 0, usage?.outputTokens.total ?? 0);
    return {
      ...given,
      forge: {
        ...(forge as object),
        costUsd: cost,
        canary: { subject, model: route.version, arm: route.arm },
      },
    } as SharedV4ProviderMetadata;
  };
  // An abort is the caller's decision, not the model's failure.
  const failed = (route: CanaryRoute, call: LanguageModelV4CallOptions) => {
    if (!call.abortSignal?.aborted) controller.record(subject, route.version, { ok: false });
  };

  return {
    specificationVersion: 'v4',
    provider: 'forge-canary',
    modelId: id,
    get supportedUrls() {
      return resolve(options.stable).supportedUrls;
    },
    async doGenerate(call: LanguageModelV4CallOptions): Promise<LanguageModelV4GenerateResult> {
      const route = pick();
      const started = Date.now();
      let result: LanguageModelV4GenerateResult;
      try {
        result = await resolve(route.version).doGenerate(call);
      } catch (error) {
        failed(route, call);
        throw error;
      }
      controller.record(subject, route.version, { ok: true, latencyMs: Date.now() - started });
      return { ...result, providerMetadata: metadata(route, result.usage, result.providerMetadata) };
    },
    async doStream(call: LanguageModelV4CallOptions): Promise<LanguageModelV4StreamResult> {
      const route = pick();
      const started = Date.now();
      let result: LanguageModelV4StreamResult;
      try {
        result = await resolve(route.version).doStream(call);
      } catch (error) {
        failed(route, call);
        throw error;
      }
      // Recorded once: an error part or a stream that breaks is a failure; a finish part that
      // reaches the end of the stream is a success. A stream the consumer cancels is not recorded.
      let recorded = false;
      let finished = false;
      const record = (ok: boolean) => {
        if (recorded) return;
        recorded = true;
        if (ok) controller.record(subject, route.version, { ok: true, latencyMs: Date.now() - started });
        else failed(route, call);
      };
      const stream = result.stream.pipeThrough(
        new TransformStream<LanguageModelV4StreamPart, LanguageModelV4StreamPart>({
          transform(part, out) {
            if (part.type === 'error') {
              record(false);
              out.enqueue(part);
            } else if (part.type === 'finish') {
              finished = true;
              out.enqueue({ ...part, providerMetadata: metadata(route, part.usage, part.providerMetadata) });
            } else {
              out.enqueue(part);
            }
          },
          flush() {
            record(finished);
          },
        }),
      );
      return { ...result, stream: tapErrors(stream, () => record(false)) };
    },
  };
}

/** `stream`, calling `onError` when reading it fails (the source broke mid-way). */
function tapErrors<T>(stream: ReadableStream<T>, onError: () => void): ReadableStream<T> {
  const reader = stream.getReader();
  return new ReadableStream<T>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        onError();
        controller.error(error);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** What {@link canaryFromRegistry} needs of a registry; `ModelRegistry` has all of it. */
export interface CanaryRegistry {
  has(id: string): boolean;
  ids(): string[];
  resolve(id: string): { model: LanguageModelV4 };
}

/**
 * Builds the canary of a `type: canary` entry over the registry's own models: both ids must be
 * registry models other than the canary (`unknown_model` with a did-you-mean, `config_invalid`),
 * and both are resolved now, so a missing key surfaces when the council is prepared, not at the
 * first call that happens to be routed there.
 */
export function canaryFromRegistry(
  registry: CanaryRegistry,
  entry: ModelEntry,
  controller: CanaryController,
  options: Pick<CanaryModelOptions, 'costOf'> = {},
): LanguageModelV4 {
  const spec = entry.canary;
  const at = (key: string) => ({ path: `ModelEntry(${entry.id}).canary.${key}` });
  if (spec === undefined) {
    throw new HarnessError('config_invalid', `canary model "${entry.id}" has no \`canary\` spec`, {
      location: at('stable'),
      hint: 'give it canary: { stable: <model id>, candidate: <model id>, share: 0.1 }',
    });
  }
  for (const key of ['stable', 'candidate'] as const) {
    const member = spec[key];
    if (member === entry.id) {
      throw new HarnessError('config_invalid', `canary "${entry.id}" names itself as its ${key} model`, {
        location: at(key),
        hint: 'the stable and candidate of a canary are two other registry models',
      });
    }
    if (!registry.has(member)) {
      const guess = didYouMean(member, registry.ids());
      throw new HarnessError('unknown_model', `canary "${entry.id}" names unknown ${key} model "${member}"`, {
        location: at(key),
        hint: guess ? `did you mean "${guess}"?` : `known model ids: ${registry.ids().join(', ')}`,
        details: { model: member, canary: entry.id },
      });
    }
    registry.resolve(member);
  }
  return createCanaryModel({
    id: entry.id,
    stable: spec.stable,
    candidate: spec.candidate,
    controller,
    resolve: (id) => registry.resolve(id).model,
    ...(spec.share === undefined ? {} : { share: spec.share }),
    ...(spec.test === undefined ? {} : { test: spec.test }),
    ...options,
  });
}
