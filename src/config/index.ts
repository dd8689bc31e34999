/**
 * `forge-harness/config`: load and validate `councils.yaml`, export its JSON Schema,
 * and the helpers other modules reuse for config-grade errors.
 */
export { didYouMean, editDistance } from './did-you-mean.ts';
export {
  type InterpolateDocumentOptions,
  type InterpolationEnv,
  interpolateDocument,
  interpolateString,
} from './interpolate.ts';
export { CONFIG_SCHEMA_ID, configJsonSchema } from './json-schema.ts';
export {
  formatYamlPath,
  type HarnessConfig,
  type LoadedConfig,
  loadConfigFile,
  type ParseConfigOptions,
  parseConfig,
  toHarnessConfig,
} from './load.ts';
export {
  type AgentYaml,
  agentSchema,
  type ConfigFileYaml,
  type CouncilYaml,
  capabilitySchema,
  configFileSchema,
  councilSchema,
  credentialRefSchema,
  type ModelEntryYaml,
  modelEntrySchema,
  modelTypeSchema,
  recursionFallbackSchema,
  recursionSchema,
  simulatedRuleSchema,
  telemetrySchema,
} from './schema.ts';
export { createYamlLocator, type YamlLocator, type YamlPath } from './yaml-source.ts';
