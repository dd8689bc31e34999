/**
 * The JSON Schema of a forge config file, generated from the zod schemas so editors
 * (YAML language server, `# yaml-language-server: $schema=...`) validate and complete
 * `councils.yaml` with the same rules as the loader.
 */
import { z } from 'zod';
import { configFileSchema } from './schema.ts';

/** The `$id` of the published schema. */
export const CONFIG_SCHEMA_ID = 'https://forge-harness.dev/schema/forge-config.json';

/**
 * The JSON Schema (draft 2020-12) of `councils.yaml`: keys, types, enums, bounds and
 * descriptions. Cross-field rules (a `local` model needs `endpoint` or `path`) and
 * cross-references (agent models exist) are checked by the loader only. A fresh object on
 * every call, safe to mutate.
 */
export function configJsonSchema(): Record<string, unknown> {
  // `io: 'input'` describes what may be written in the file, which is what an editor checks.
  const generated = z.toJSONSchema(configFileSchema, { target: 'draft-2020-12', io: 'input' }) as Record<
    string,
    unknown
  >;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: CONFIG_SCHEMA_ID,
    title: 'forge-harness config (councils.yaml)',
    description:
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the ${...} syntax documented for the user.
      'Models under `models:` and councils of agents under `councils:`. Strings may use ${VAR} and ${VAR:-default}; write $${ for a literal ${.',
    ...rest,
  };
}
