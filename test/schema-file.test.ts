import { readdir, readFile } from 'node:fs/promises';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { configJsonSchema } from 'forge-harness/config';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { demoConfigYaml } from '../src/cli/demo-config.ts';

const read = (path: string) => readFile(new URL(`../${path}`, import.meta.url), 'utf8');

describe('the published JSON Schema', () => {
  it('schema/forge-config.schema.json is the current schema (regenerate: npm run schema:json)', async () => {
    expect(JSON.parse(await read('schema/forge-config.schema.json'))).toEqual(configJsonSchema());
  });

  it('accepts every YAML example, the spec fixture and the demo config', async () => {
    const validate = new Ajv2020({ strict: false, allowUnionTypes: true, validateFormats: false }).compile(
      configJsonSchema(),
    );
    const files = (await readdir(new URL('../examples', import.meta.url))).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    const docs = [
      ...(await Promise.all(files.map(async (f) => [f, parse(await read(`examples/${f}`))] as const))),
      ['test/fixtures/councils.yaml', parse(await read('test/fixtures/councils.yaml'))] as const,
      ['demo', parse(demoConfigYaml)] as const,
    ];
    for (const [name, doc] of docs) {
      expect(validate(doc), `${name}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });
});
