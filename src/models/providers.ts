/**
 * Provider types: how a registry entry becomes an AI SDK `LanguageModelV4`. Every vendor goes
 * through its AI SDK provider package; we never hand-write a vendor HTTP client. A new type
 * plugs in with {@link registerProviderType}, with no change to core code.
 */
import { createAnthropic } from '@ai-sdk/anthropic';
import { createGoogleGenerativeAI } from '@ai-sdk/google';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { EmbeddingModelV4, LanguageModelV4 } from '@ai-sdk/provider';
import { HarnessError } from '../errors.ts';
import { createSimulatedModel } from './simulated.ts';
import { createSimulatedEmbeddingModel } from './simulated-embeddings.ts';
import type { ModelEntry } from './types.ts';

/** What a provider factory receives: the entry and its resolved key (if the type needs one). */
export interface ProviderContext {
  entry: ModelEntry;
  /** The resolved API key, or undefined for keyless types. */
  apiKey: string | undefined;
}

export interface ProviderType {
  /** Environment variable read when an entry has no `api_key`; undefined = keyless by default. */
  defaultKeyEnv?: string;
  create(context: ProviderContext): LanguageModelV4;
  /** Builds the entry as an embedding model; absent when the vendor has none. */
  createEmbedding?(context: ProviderContext): EmbeddingModelV4;
}

const providerTypes = new Map<string, ProviderType>();

/** Registers (or replaces) a provider type, e.g. for a vendor the AI SDK supports that we do not ship. */
export function registerProviderType(type: string, provider: ProviderType): void {
  providerTypes.set(type, provider);
}

/** The provider type registered under `type`; an unknown type lists the known ones. */
export function providerType(type: string): ProviderType {
  const found = providerTypes.get(type);
  if (!found) {
    throw new HarnessError('unknown_provider_type', `no provider type "${type}" is registered`, {
      hint: `use one of: ${[...providerTypes.keys()].join(', ')}, or call registerProviderType()`,
    });
  }
  return found;
}

const modelName = (entry: ModelEntry): string => entry.model ?? entry.id;
const withBase = (entry: ModelEntry) => ({
  ...(entry.endpoint === undefined ? {} : { baseURL: entry.endpoint }),
  ...(entry.headers === undefined ? {} : { headers: entry.headers }),
});

const openai = ({ entry, apiKey }: ProviderContext) =>
  createOpenAI({ ...withBase(entry), ...(apiKey === undefined ? {} : { apiKey }) });

registerProviderType('openai', {
  defaultKeyEnv: 'OPENAI_API_KEY',
  create: (context) => {
    const provider = openai(context);
    const name = modelName(context.entry);
    return context.entry.api === 'chat' ? provider.chat(name) : provider.responses(name);
  },
  createEmbedding: (context) => openai(context).embedding(modelName(context.entry)),
});

registerProviderType('anthropic', {
  defaultKeyEnv: 'ANTHROPIC_API_KEY',
  create: ({ entry, apiKey }) =>
    createAnthropic({ ...withBase(entry), ...(apiKey === undefined ? {} : { apiKey }) })(modelName(entry)),
});

const google = ({ entry, apiKey }: ProviderContext) =>
  createGoogleGenerativeAI({ ...withBase(entry), ...(apiKey === undefined ? {} : { apiKey }) });

registerProviderType('google', {
  defaultKeyEnv: 'GOOGLE_GENERATIVE_AI_API_KEY',
  create: (context) => google(context)(modelName(context.entry)),
  createEmbedding: (context) => google(context).embedding(modelName(context.entry)),
});

function compatibleProvider({ entry, apiKey }: ProviderContext) {
  if (entry.path !== undefined) {
    throw new HarnessError(
      'gguf_unavailable',
      `model "${entry.id}" points at a GGUF file (${entry.path}), but embedded GGUF inference is not available yet`,
      {
        hint: 'serve the file with an OpenAI-compatible server (Ollama, llama.cpp server, vLLM, LM Studio) and set `endpoint:` instead of `path:`',
        details: { model: entry.id, path: entry.path },
      },
    );
  }
  if (entry.endpoint === undefined) {
    throw new HarnessError('config_invalid', `model "${entry.id}" of type ${entry.type} has no endpoint`, {
      hint: 'set endpoint: http://localhost:11434/v1 (Ollama) or your server URL',
    });
  }
  return createOpenAICompatible({
    name: entry.type === 'local' ? 'local' : 'openai-compatible',
    baseURL: entry.endpoint,
    ...(entry.headers === undefined ? {} : { headers: entry.headers }),
    ...(apiKey === undefined ? {} : { apiKey }),
    includeUsage: true,
  });
}

const openAICompatible: ProviderType = {
  create: (context) => compatibleProvider(context).chatModel(modelName(context.entry)),
  createEmbedding: (context) => compatibleProvider(context).embeddingModel(modelName(context.entry)),
};
registerProviderType('openai-compatible', openAICompatible);
registerProviderType('local', openAICompatible);

registerProviderType('simulated', {
  createEmbedding: ({ entry }) =>
    createSimulatedEmbeddingModel({
      modelId: modelName(entry),
      ...(entry.dimensions === undefined ? {} : { dimensions: entry.dimensions }),
    }),
  create: ({ entry }) =>
    createSimulatedModel({
      modelId: modelName(entry),
      ...(entry.rules === undefined ? {} : { rules: entry.rules }),
      ...(entry.latencyMs === undefined ? {} : { latencyMs: entry.latencyMs }),
    }),
});
