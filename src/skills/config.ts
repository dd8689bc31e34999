/**
 * `skills:` of a config file as the runtime sees them, and {@link resolveSkillConfig}, which
 * turns them into skills and skill sources for the harness.
 */
import { didYouMean } from '../config/did-you-mean.ts';
import { HarnessError } from '../errors.ts';
import type { AnySkill, SkillSource } from '../runtime/skill.ts';
import { type SkillCacheOptions, withCache } from './cache.ts';
import { type McpServerOptions, mcpServer } from './mcp.ts';
import { loadSkillBundle } from './skill-md.ts';

/**
 * One `skills:` entry (camelCase; the loader resolves relative paths against the config file's
 * folder): a `SKILL.md` bundle folder, an MCP server, or options for a skill registered in code.
 */
export type SkillConfig =
  | { bundle: string }
  | { mcp: McpServerOptions }
  | { name: string; cache?: SkillCacheOptions };

/** What {@link resolveSkillConfig} builds. */
export interface ResolvedSkills {
  /** Bundles, and registered skills with their options applied (register these by name, replacing the plain ones). */
  skills: AnySkill[];
  /** MCP servers: load them before the councils that use them, close them at stop. */
  sources: SkillSource[];
}

/**
 * Builds the skills and sources of `skills:` entries: bundles are loaded, MCP servers become
 * sources (not started yet), and a `name:` entry wraps the registered skill of that name with
 * its options (a cache).
 *
 * @param registered the skills a `name:` entry may refer to (code skills and built-ins).
 * @throws HarnessError `skill_bundle_invalid` for a bad bundle, `unknown_skill` for a `name:`
 * that is not registered, `config_invalid` for bad options; locations are `skills[i]...` paths.
 */
export function resolveSkillConfig(
  configs: readonly SkillConfig[],
  registered: readonly AnySkill[],
): ResolvedSkills {
  const skills: AnySkill[] = [];
  const sources: SkillSource[] = [];
  configs.forEach((config, i) => {
    if ('bundle' in config) {
      skills.push(loadSkillBundle(config.bundle));
    } else if ('mcp' in config) {
      sources.push(relocate(() => mcpServer(config.mcp), `skills[${i}].mcp`));
    } else {
      const skill = registered.find((s) => s.name === config.name);
      if (skill === undefined) {
        const known = registered.map((s) => s.name);
        const guess = didYouMean(config.name, known);
        throw new HarnessError('unknown_skill', `skills[${i}] names unknown skill "${config.name}"`, {
          location: { path: `skills[${i}].name` },
          hint: guess
            ? `did you mean "${guess}"?`
            : `known skills: ${known.join(', ') || '(none)'}; register it with new Harness({ skills: [...] })`,
        });
      }
      skills.push(
        config.cache === undefined
          ? skill
          : relocate(() => withCache(skill, config.cache), `skills[${i}].cache`),
      );
    }
  });
  return { skills, sources };
}

/** Runs `build`, pointing an option error at the `skills:` entry it came from. */
function relocate<T>(build: () => T, path: string): T {
  try {
    return build();
  } catch (error) {
    if (!HarnessError.isInstance(error) || error.code !== 'config_invalid') throw error;
    throw new HarnessError(error.code, error.message, {
      cause: error.cause,
      location: { path },
      ...(error.hint === undefined ? {} : { hint: error.hint }),
      details: error.details,
    });
  }
}
