/**
 * `forge-harness/testing`: deterministic models and a fake provider server for running councils
 * against faults without real API keys.
 */

export {
  FakeProviderServer,
  type FakeProviderServerOptions,
  type RunFakeProviderServerOptions,
  runFakeProviderServer,
} from './fake-provider-server.ts';
export {
  type CutFault,
  type FakeCounters,
  type FakeFamily,
  type FakeMatch,
  type FakeReply,
  type FakeRoute,
  type FaultCommon,
  type FaultKind,
  type FaultSpec,
  type FaultStatus,
  fakeFamilies,
  fakeRoutes,
  type HangFault,
  type LatencyFault,
  type MalformedJsonFault,
  parseFaultSpec,
  parseReplyRequest,
  type RateLimitHeaderSpec,
  type RecordedRequest,
  type ResetFault,
  redactedValue,
  type StatusFault,
} from './fake-provider-spec.ts';
export { defaultEmbeddingDimensions, fakeEmbedding } from './fake-wire/openai-embeddings.ts';
export {
  ScriptedModel,
  type ScriptedModelOptions,
  type ScriptedToolCall,
  type ScriptedUsage,
  type ScriptStep,
} from './scripted-model.ts';
