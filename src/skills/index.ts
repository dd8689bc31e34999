/**
 * Skills beyond plain code: the LRU result cache, `SKILL.md` bundles, MCP servers, and the
 * `skills:` section of a config file.
 */
export {
  cacheStats,
  canonicalJson,
  defaultSkillCacheOptions,
  SkillCache,
  type SkillCacheOptions,
  type SkillCacheStats,
  skillCache,
  skillCacheKey,
  withCache,
} from './cache.ts';
export { type ResolvedSkills, resolveSkillConfig, type SkillConfig } from './config.ts';
export {
  type McpServerOptions,
  McpSkillSource,
  mcpDefaults,
  mcpServer,
  mcpSkillName,
  toolText,
} from './mcp.ts';
export {
  loadSkillBundle,
  maxBundleFileBytes,
  maxListedFiles,
  readSkillBundleManifest,
  type SkillBundle,
  type SkillBundleInput,
  type SkillBundleManifest,
  type SkillBundleOutput,
} from './skill-md.ts';
