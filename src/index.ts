/**
 * forge-harness: councils of agents with skills and memory, on any model, that keep working.
 * @packageDocumentation
 */
export type { Engine, RunJob, RunWork } from './engine/engine.ts';
export { LocalEngine, type LocalEngineOptions } from './engine/local.ts';
export {
  formatLocation,
  HarnessError,
  type HarnessErrorCode,
  type HarnessErrorOptions,
  type SourceLocation,
} from './errors.ts';
export {
  BreakerBoard,
  type BreakerBoardOptions,
  type BreakerBoardState,
  type BreakerChange,
  type BreakerListener,
  type BreakerOptions,
  type BreakerScope,
  type BreakerStateName,
  type BreakerStatus,
  type CircuitJSON,
  defaultBreakerOptions,
  defaultProviderBreakerOptions,
} from './gateway/breaker.ts';
export { classifyFailure, type Failure, type FailureKind } from './gateway/classify.ts';
export {
  createEnsembleModel,
  defaultEnsembleSimilarity,
  type EnsembleEmbed,
  type EnsembleIssue,
  type EnsembleModelOptions,
  type EnsembleRegistry,
  ensembleFromRegistry,
  ensembleIssues,
  findEnsembleCycle,
} from './gateway/ensemble.ts';
export {
  breakerOpenReason,
  createGatewayModel,
  defaultRetryPolicy,
  type FlushMode,
  type GatewayModel,
  type GatewayModelOptions,
  type RetryPolicy,
} from './gateway/gateway-model.ts';
export { type HedgeOptions, LatencyTracker, minLatencySamples } from './gateway/hedge.ts';
export type { CallLimiter, CallOutcome, CallPermit, CallPermitRequest } from './gateway/limiter.ts';
export {
  createSecretStore,
  describeRef,
  type KeyStatus,
  type SecretStore,
  type SecretStoreOptions,
} from './gateway/secrets.ts';
export type { ModelTimeouts, TimeoutPhase } from './gateway/timeouts.ts';
export {
  type BreakerState,
  type ConsistencyCheck,
  createHealthApp,
  createJournalProbe,
  createMemoryProbe,
  createModelProbe,
  createProcessProbe,
  type Evictor,
  type HealthAppOptions,
  type HealthBody,
  HealthMonitor,
  type HealthMonitorOptions,
  type HealthReport,
  type HealthSource,
  MemoryPressure,
  type MemoryPressureOptions,
  type MemoryPressureState,
  type ModelProbeOptions,
  overloadedError,
  type Probe,
  type ProbeCheck,
  type ProbeResult,
  type ProbeStatus,
  type ProcessProbe,
  type ProcessProbeOptions,
  type ProcessStats,
} from './health/index.ts';
export {
  compareVersions,
  createPatchedRun,
  describeSignature,
  matchesSignature,
  type PatchedRun,
  type PatchingOptions,
  type PatchSignature,
  type SkillPatch,
  withPatches,
} from './health/patches.ts';
export {
  type ArmStats,
  addOutcome,
  addScore,
  bernoulliLlr,
  bernoulliSprt,
  bucket,
  type CanaryArm,
  CanaryController,
  type CanaryControllerOptions,
  type CanaryDecision,
  type CanaryGoal,
  type CanaryMetadata,
  type CanaryModelOptions,
  type CanaryOutcome,
  type CanaryRegistry,
  type CanaryRoute,
  type CanarySkill,
  type CanarySkillOptions,
  type CanaryStartOptions,
  type CanaryState,
  type CanaryStatus,
  type CanaryTestOptions,
  type CanaryVerdict,
  canaryFromRegistry,
  canarySkill,
  canarySubject,
  compareArms,
  compareDifference,
  confidenceRadius,
  countsAsFailure,
  createCanaryModel,
  type DifferenceEstimate,
  type DifferenceResult,
  defaultCanaryController,
  defaultCanaryTest,
  defaultCanaryUrl,
  defaultSequentialTest,
  emptyArmStats,
  gaussianLlr,
  gaussianSprt,
  type MomentStats,
  resolveCanaryTest,
  resolveSequentialOptions,
  type SequentialDecision,
  type SequentialResult,
  type SequentialTestOptions,
  seededRandom,
  sprtBounds,
} from './learning/index.ts';
export type { MemoryMessage, MemoryNamespace, MemoryStore, RecallHit } from './memory/index.ts';
export { knownMemorySchemes, Memory, openMemoryStore, registerMemoryScheme } from './memory/index.ts';
export { type ProviderContext, type ProviderType, registerProviderType } from './models/providers.ts';
export {
  costUsd,
  type GatewayDefaults,
  ModelRegistry,
  type ModelRegistryOptions,
  type ResolvedModel,
} from './models/registry.ts';
export { createSimulatedModel, type SimulatedModelOptions } from './models/simulated.ts';
export { createSimulatedEmbeddingModel, simulatedEmbedding } from './models/simulated-embeddings.ts';
export type {
  CanarySpec,
  EnsembleSpec,
  EnsembleVote,
  ModelCapability,
  ModelEntry,
  ModelRateLimits,
  ModelType,
  SimulatedRule,
} from './models/types.ts';
export { parsePrompt } from './prompt/parse.ts';
export type { UnifiedMessage, UnifiedPrompt } from './prompt/schema.ts';
export { toModelMessages } from './prompt/to-model-messages.ts';
export { countTokens } from './prompt/tokens.ts';
export { Agent, type AgentOptions } from './runtime/agent.ts';
export type { SpawnRequest, SubAgentResult } from './runtime/agent-run.ts';
export { Budget, type LimitName, type RunLimits } from './runtime/budget.ts';
export { createNluSkill, createSearchSkill, type NluResult } from './runtime/builtin-skills.ts';
export type { CallLlmOptions, CallLlmResult, StreamLlmResult } from './runtime/call-llm.ts';
export {
  Council,
  type CouncilOptions,
  type DebateSettings,
  type RouterSettings,
  type VoteSettings,
} from './runtime/council.ts';
export type {
  EventError,
  RunEvent,
  RunEventType,
  SkillEventBody,
  SubscribeOptions,
  Usage,
} from './runtime/events.ts';
export { type DependencyGraph, findCycle, formatCycle, sinks, topologicalLevels } from './runtime/graph.ts';
export {
  councilHash,
  defaultJournalUrl,
  defaultMemoryUrl,
  Harness,
  type HarnessOptions,
  type ReloadResult,
  type RunOptions,
  type WatchOptions,
} from './runtime/harness.ts';
export {
  type JournalRun,
  type JournalRunStatus,
  type JournalStep,
  openJournal,
  type RunFilter,
  type RunJournal,
  SqliteJournal,
} from './runtime/journal.ts';
export { RecursionPolicy, type RecursionPolicyOptions } from './runtime/recursion-policy.ts';
export { type AgentOutcome, Run, type RunResult, type RunStatus } from './runtime/run.ts';
export type { CallLimiterOptions, SchedulerCallLimiter } from './runtime/scheduler/call-limiter.ts';
export { createScheduler, type HarnessScheduler, schedulerDefaults } from './runtime/scheduler/scheduler.ts';
export type {
  BucketStats,
  ModelLimiterStats,
  Priority,
  ProviderLimiterStats,
  ProviderRateLimits,
  RunTicket,
  Scheduler,
  SchedulerOptions,
  SchedulerStats,
} from './runtime/scheduler/types.ts';
export {
  type AnySkill,
  checkSkillOutput,
  isSkillSource,
  Skill,
  type SkillContext,
  type SkillOptions,
  SkillRegistry,
  type SkillSource,
  skillNamePattern,
} from './runtime/skill.ts';
export type {
  AgentSpec,
  CouncilSpec,
  CouncilStrategy,
  DebateSpec,
  KnowledgeDocument,
  RecursionFallback,
  RecursionPolicySpec,
  RouterSpec,
  RouteSpec,
  VoteRule,
  VoteSpec,
} from './runtime/spec.ts';
export {
  cacheStats,
  loadSkillBundle,
  type McpServerOptions,
  McpSkillSource,
  mcpServer,
  type ResolvedSkills,
  readSkillBundleManifest,
  resolveSkillConfig,
  type SkillBundle,
  type SkillBundleInput,
  type SkillBundleManifest,
  type SkillBundleOutput,
  SkillCache,
  type SkillCacheOptions,
  type SkillCacheStats,
  type SkillConfig,
  skillCache,
  withCache,
} from './skills/index.ts';
export {
  installTelemetry,
  type Telemetry,
  type TelemetryOptions,
  type TelemetrySource,
} from './telemetry/install.ts';
export {
  CostLedger,
  type CostLedgerOptions,
  type LedgerEntry,
  type LedgerTotals,
  ledgerFromEvents,
  type RunLedger,
} from './telemetry/ledger.ts';
export {
  breakerStates,
  createMetrics,
  defaultErrorRateWindowMs,
  defaultLatencyBuckets,
  type ForgeMetrics,
  type MetricsOptions,
  type MetricsSources,
  metricNames,
  metricsResponse,
} from './telemetry/metrics.ts';
export {
  OpenTelemetryExporter,
  type OpenTelemetryExporterOptions,
  type OtlpProtocol,
} from './telemetry/otel-exporter.ts';
export {
  createSpanRecorder,
  genAiAttributes,
  genAiOperations,
  genAiProviderName,
  type SpanRecorder,
  type SpanRecorderOptions,
} from './telemetry/spans.ts';
