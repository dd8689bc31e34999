/**
 * forge-harness: councils of agents with skills and memory, on any model, that keep working.
 * @packageDocumentation
 */
export { HarnessError, type HarnessErrorCode, type HarnessErrorOptions, type SourceLocation, formatLocation } from './errors.ts';
export { Harness, type HarnessOptions, type RunOptions, defaultMemoryUrl } from './runtime/harness.ts';
export { Council, type CouncilOptions } from './runtime/council.ts';
export { Agent, type AgentOptions } from './runtime/agent.ts';
export { Skill, type AnySkill, type SkillContext, type SkillOptions, SkillRegistry } from './runtime/skill.ts';
export { createNluSkill, createSearchSkill, type NluResult } from './runtime/builtin-skills.ts';
export { RecursionPolicy, type RecursionPolicyOptions } from './runtime/recursion-policy.ts';
export { OpenTelemetryExporter, type OpenTelemetryExporterOptions } from './telemetry/otel-exporter.ts';
export { Run, type RunResult, type RunStatus, type AgentOutcome } from './runtime/run.ts';
export type { RunEvent, RunEventType, Usage, EventError } from './runtime/events.ts';
export type { CallLlmOptions, CallLlmResult, StreamLlmResult } from './runtime/call-llm.ts';
export type { AgentSpec, CouncilSpec, KnowledgeDocument, RecursionFallback, RecursionPolicySpec } from './runtime/spec.ts';
export { Memory, openMemoryStore, registerMemoryScheme, knownMemorySchemes } from './memory/index.ts';
export type { MemoryStore, MemoryNamespace, MemoryMessage, RecallHit } from './memory/index.ts';
export { ModelRegistry, type ResolvedModel, costUsd } from './models/registry.ts';
export { registerProviderType, type ProviderType, type ProviderContext } from './models/providers.ts';
export { createSimulatedModel, type SimulatedModelOptions } from './models/simulated.ts';
export type { ModelEntry, ModelType, ModelCapability, SimulatedRule } from './models/types.ts';
export { parsePrompt } from './prompt/parse.ts';
export { toModelMessages } from './prompt/to-model-messages.ts';
export { countTokens } from './prompt/tokens.ts';
export type { UnifiedPrompt, UnifiedMessage } from './prompt/schema.ts';
