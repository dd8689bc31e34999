// SKILL.md bundles: a folder with a SKILL.md and its files, loaded as one skill (in code and from
// `skills:` in YAML), read safely (no way out of the folder), and bad bundles reported at the line.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Agent,
  Council,
  Harness,
  HarnessError,
  loadSkillBundle,
  type RunEvent,
  registerProviderType,
  type SkillContext,
} from 'forge-harness';
import { parseConfig } from 'forge-harness/config';
import { ScriptedModel } from 'forge-harness/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const fixtures = fileURLToPath(new URL('./fixtures/skills/', import.meta.url));
const refundPolicy = join(fixtures, 'refund-policy');
const context = { signal: new AbortController().signal } as SkillContext;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'forge-bundles-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A bundle folder under the test's temp folder with these files (paths relative to it). */
function bundle(name: string, files: Record<string, string>): string {
  const dir = join(tmp, name);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  return dir;
}

async function refusal(promise: unknown): Promise<HarnessError> {
  const error = await Promise.resolve(promise).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!HarnessError.isInstance(error)) throw new Error(`expected a HarnessError, got ${String(error)}`);
  return error;
}

describe('loadSkillBundle', () => {
  it('loads the frontmatter and gives the instructions and the list of files', async () => {
    const skill = loadSkillBundle(refundPolicy);
    expect([skill.name, skill.version]).toEqual(['refund-policy', '2.0.1']);
    expect(skill.description).toContain('How refunds work at ACME');
    expect(skill.dir).toBe(refundPolicy.replace(/\/$/, ''));
    const index = await skill.run({}, context);
    expect(index).toEqual({
      name: 'refund-policy',
      instructions: expect.stringContaining('Refunds are issued within 5 business days'),
      files: ['exceptions.md', 'templates/refund-email.txt'],
    });
    expect('instructions' in index && index.instructions.startsWith('# Refund policy')).toBe(true);
  });

  it('reads a bundled file, also through a link that stays inside', async () => {
    const dir = bundle('linked', {
      'SKILL.md': '---\nname: linked\ndescription: Has links.\n---\nRead notes/a.md.\n',
      'notes/a.md': 'note A\n',
    });
    symlinkSync(join(dir, 'notes/a.md'), join(dir, 'alias.md'));
    symlinkSync(join(fixtures, 'mcp-calc-server.ts'), join(dir, 'escape.ts'));
    const skill = loadSkillBundle(dir);
    expect(await skill.run({ file: 'notes/a.md' }, context)).toEqual({
      file: 'notes/a.md',
      text: 'note A\n',
    });
    expect(await skill.run({ file: 'alias.md' }, context)).toEqual({ file: 'alias.md', text: 'note A\n' });
    // The link that leads out of the folder is neither listed nor readable.
    expect(await skill.run({}, context)).toMatchObject({ files: ['alias.md', 'notes/a.md'] });
    const escaped = await refusal(skill.run({ file: 'escape.ts' }, context));
    expect(escaped.code).toBe('skill_failed');
    expect(escaped.message).toContain('leads outside the bundle');
  });

  it('refuses paths that leave the folder, and files it does not have', async () => {
    const skill = loadSkillBundle(refundPolicy);
    for (const [file, why] of [
      ['../mcp-calc-server.ts', '".." is not allowed'],
      ['templates/../../refund-policy/exceptions.md', '".." is not allowed'],
      ['/etc/passwd', 'absolute paths are not allowed'],
      [join(refundPolicy, 'exceptions.md'), 'absolute paths are not allowed'],
      ['missing.md', 'no such file in the bundle'],
      ['templates', 'it is not a file'],
    ] as const) {
      const error = await refusal(skill.run({ file }, context));
      expect(error.code, file).toBe('skill_failed');
      expect(error.message, file).toContain(why);
    }
    // The schema rejects an empty file name before run() (the model gets a validation message).
    expect(skill.inputSchema.safeParse({ file: '' }).success).toBe(false);
  });

  it('reports a bad bundle as skill_bundle_invalid at dir/SKILL.md:line, naming the field', () => {
    const cases: Array<{ name: string; text?: string; line?: number; field: string; message: RegExp }> = [
      { name: 'no-skill-md', field: '', message: /has no SKILL\.md/ },
      {
        name: 'no-frontmatter',
        text: '# Just text\n',
        line: 1,
        field: 'frontmatter',
        message: /no frontmatter/,
      },
      {
        name: 'unclosed',
        text: '---\nname: x\ndescription: y\n',
        line: 1,
        field: 'frontmatter',
        message: /never closed/,
      },
      {
        name: 'bad-yaml',
        text: '---\nname: ok\ndescription: [unclosed\n---\n',
        line: 3,
        field: 'frontmatter',
        message: /not valid YAML/,
      },
      {
        name: 'bad-name',
        text: '---\ndescription: Fine.\nname: Refund Policy!\n---\n',
        line: 3,
        field: 'name',
        message: /bad skill name "Refund Policy!" in field name/,
      },
      { name: 'no-name', text: '---\ndescription: Fine.\n---\n', line: 2, field: 'name', message: /no name/ },
      {
        name: 'no-description',
        text: '---\nname: fine\ndescription:\n---\n',
        line: 3,
        field: 'description',
        message: /no description/,
      },
      {
        name: 'number-version',
        text: '---\nname: fine\ndescription: Fine.\nversion: 1.5\n---\n',
        line: 4,
        field: 'version',
        message: /version must be a string/,
      },
    ];
    for (const c of cases) {
      const dir =
        c.text === undefined ? bundle(c.name, { 'notes.md': 'x' }) : bundle(c.name, { 'SKILL.md': c.text });
      let error: unknown;
      try {
        loadSkillBundle(dir);
      } catch (e) {
        error = e;
      }
      expect(HarnessError.isInstance(error), c.name).toBe(true);
      const e = error as HarnessError;
      expect(e.code, c.name).toBe('skill_bundle_invalid');
      expect(e.message, c.name).toMatch(c.message);
      expect(e.location, c.name).toEqual({
        file: join(dir, 'SKILL.md'),
        path: c.field,
        ...(c.line === undefined ? {} : { line: c.line }),
      });
      if (c.line !== undefined) expect(e.message, c.name).toContain(`${join(dir, 'SKILL.md')}:${c.line}:`);
      expect(e.hint, c.name).toBeTruthy();
    }
    const missing = join(tmp, 'does-not-exist');
    expect(() => loadSkillBundle(missing)).toThrow(
      expect.objectContaining({
        code: 'skill_bundle_invalid',
        details: expect.objectContaining({ field: 'folder' }),
      }),
    );
  });
});

describe('a bundle in a council', () => {
  it('the model reads the instructions, then a file', async () => {
    const model = new ScriptedModel({
      steps: [
        { toolCalls: [{ toolName: 'refund-policy', input: {} }] },
        { toolCalls: [{ toolName: 'refund-policy', input: { file: 'exceptions.md' } }] },
        { text: 'Opened software gets store credit only.' },
      ],
    });
    registerProviderType('scripted-bundle', { create: () => model });
    const harness = new Harness({
      models: [{ id: 'm', type: 'scripted-bundle' }],
      memory: 'memory://',
      skills: [loadSkillBundle(refundPolicy)],
      councils: [
        new Council({
          name: 'Support',
          agents: [new Agent({ name: 'A', model: 'm', skills: ['refund-policy'] })],
        }),
      ],
    });
    const events: RunEvent[] = [];
    const result = await harness.run('Support', 'Can I return opened software?', {
      onEvent: (e) => events.push(e),
    });
    expect(result.output).toBe('Opened software gets store credit only.');
    const outputs = events.flatMap((e) => (e.type === 'tool-call-finish' ? [e.output] : []));
    expect(outputs[0]).toMatchObject({ files: ['exceptions.md', 'templates/refund-email.txt'] });
    expect(outputs[1]).toEqual({ file: 'exceptions.md', text: expect.stringContaining('store credit only') });
    // The model was told what the skill is for.
    expect(JSON.stringify(model.calls[0]?.tools)).toContain('How refunds work at ACME');
    await harness.stop();
  });
});

describe('skills: in YAML', () => {
  const file = join(fixtures, 'councils.yaml');
  const yaml = (skills: string, agentSkills = '[refund-policy]') => `
models:
  - { id: m, type: simulated }
skills:
${skills}
councils:
  - name: Support
    agents:
      - { name: A, model: m, skills: ${agentSkills} }
`;

  it('bundles are read at load (their names are known), MCP tools are accepted by prefix, paths are absolute', () => {
    const config = parseConfig(
      yaml(
        `  - bundle: ./refund-policy
  - mcp: { name: files, command: node, args: [server.js], env: { ROOT: /srv }, connect_timeout_ms: 5000 }
  - mcp: { name: web, url: "http://127.0.0.1:3001/mcp", headers: { Authorization: "Bearer t" } }
  - name: Search
    cache: { size: 50, ttl_ms: 1000 }`,
        '[refund-policy, files_read, web_fetch, Search]',
      ),
      { file, knownSkills: ['NLU', 'Search'] },
    );
    expect(config.skills).toEqual([
      { bundle: refundPolicy.replace(/\/$/, '') },
      {
        mcp: {
          name: 'files',
          command: 'node',
          args: ['server.js'],
          env: { ROOT: '/srv' },
          cwd: fixtures.replace(/\/$/, ''),
          connectTimeoutMs: 5000,
        },
      },
      { mcp: { name: 'web', url: 'http://127.0.0.1:3001/mcp', headers: { Authorization: 'Bearer t' } } },
      { name: 'Search', cache: { size: 50, ttlMs: 1000 } },
    ]);
  });

  it('an agent skill that is neither known, a bundle, nor an MCP prefix is still unknown_skill', () => {
    const error = (() => {
      try {
        parseConfig(yaml('  - mcp: { name: files, command: node }', '[refund-policy, fils_read]'), {
          file,
          knownSkills: ['NLU'],
        });
      } catch (e) {
        return e as HarnessError;
      }
    })();
    expect(error?.code).toBe('unknown_skill');
    expect(error?.location).toMatchObject({ file, line: 9 });
    expect(error?.message).toContain('refund-policy');
  });

  it('skill sources given in code count too (skillSources)', () => {
    const text = yaml('  - bundle: ./refund-policy', '[refund-policy, calc_add]');
    expect(() => parseConfig(text, { file, knownSkills: [] })).toThrow(/unknown skill "calc_add"/);
    expect(parseConfig(text, { file, knownSkills: [], skillSources: ['calc'] }).councils).toHaveLength(1);
  });

  it('a bad bundle is located in its SKILL.md and names the config line; a missing folder is located in the config', () => {
    const bad = bundle('yaml-bad', { 'SKILL.md': '---\nname: fine\n---\nbody\n' });
    const located = (text: string) => {
      try {
        parseConfig(text, { file, knownSkills: [] });
      } catch (e) {
        return e as HarnessError;
      }
      throw new Error('no error');
    };
    const inBundle = located(yaml(`  - bundle: ${bad}`, '[fine]'));
    expect(inBundle.code).toBe('skill_bundle_invalid');
    expect(inBundle.location).toMatchObject({ file: join(bad, 'SKILL.md'), line: 2, path: 'description' });
    expect(inBundle.hint).toContain(`${file}:5`);
    const missing = located(yaml('  - bundle: ./nowhere', '[]'));
    expect(missing.code).toBe('skill_bundle_invalid');
    expect(missing.location).toMatchObject({ file, line: 5, path: 'skills[0].bundle' });
  });

  it('bad entries are config errors at their line', () => {
    const cases: Array<[string, string, RegExp]> = [
      [
        '  - mcp: { name: x, command: node, url: "http://h/mcp" }',
        'config_invalid',
        /exactly one of `command`/,
      ],
      ['  - { bundle: ./refund-policy, name: Search }', 'config_invalid', /not `bundle` and `name`/],
      ['  - mcp: { name: x, url: "http://h/mcp", args: [a] }', 'config_invalid', /only valid with `command`/],
      ['  - { bundle: ./refund-policy, cache: { size: 5 } }', 'config_invalid', /only valid with `name`/],
      ['  - name: Nope', 'unknown_skill', /unknown skill "Nope"/],
      [
        '  - mcp: { name: x, command: node }\n  - mcp: { name: x, command: node }',
        'config_invalid',
        /duplicate MCP server name "x"/,
      ],
    ];
    for (const [skills, code, message] of cases) {
      let error: HarnessError | undefined;
      try {
        parseConfig(yaml(skills, '[]'), { file, knownSkills: ['Search'] });
      } catch (e) {
        error = e as HarnessError;
      }
      expect(error?.code, skills).toBe(code);
      expect(error?.message, skills).toMatch(message);
      expect(error?.location?.line, skills).toBeGreaterThanOrEqual(5);
    }
  });

  it('Harness.fromYaml registers the bundle for its agents', async () => {
    const harness = Harness.fromYaml(yaml('  - bundle: ./refund-policy'), { file, memory: 'memory://' });
    await harness.start();
    expect(harness.skills.get('refund-policy')?.version).toBe('2.0.1');
    await harness.stop();
  });
});
