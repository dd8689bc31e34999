import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSkillBundleManifest } from './skill-md.ts';

const tmp = mkdtempSync(join(tmpdir(), 'forge-skill-md-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function manifest(name: string, text: string) {
  const dir = join(tmp, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'SKILL.md'), text);
  return readSkillBundleManifest(dir);
}

describe('readSkillBundleManifest', () => {
  it('reads name, description, version (default 1.0.0) and the trimmed body; extra fields are allowed', () => {
    expect(
      manifest(
        'plain',
        '---\nname: pdf\ndescription: " Fills PDF forms. "\nallowed-tools: [Read]\n---\n\n# PDF\n\nSteps.\n\n',
      ),
    ).toMatchObject({
      name: 'pdf',
      description: 'Fills PDF forms.',
      version: '1.0.0',
      instructions: '# PDF\n\nSteps.',
    });
  });

  it('accepts CRLF line ends and a byte-order mark', () => {
    expect(
      manifest(
        'crlf',
        '\uFEFF---\r\nname: win\r\ndescription: From Windows.\r\nversion: "3.1"\r\n---\r\nBody\r\n',
      ),
    ).toMatchObject({ name: 'win', description: 'From Windows.', version: '3.1', instructions: 'Body' });
  });

  it('locates a field on the line of its value, counting the opening --- line', () => {
    let error: unknown;
    try {
      manifest('late-name', '---\ndescription: Fine.\n\n# a comment\nname: "no spaces allowed"\n---\n');
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'skill_bundle_invalid', location: { line: 5, path: 'name' } });
  });

  it('an empty frontmatter is not a mapping', () => {
    expect(() => manifest('empty', '---\n---\nBody\n')).toThrow(/not a mapping/);
  });
});
