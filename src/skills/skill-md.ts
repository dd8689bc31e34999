/**
 * `SKILL.md` bundles: a folder with a `SKILL.md` (YAML frontmatter `name`, `description`,
 * optional `version`; the body is the instructions) and any other files, loaded as one skill.
 * The model calls it without `file` to read the instructions and the list of files, and with
 * `file` to read one of them; nothing outside the folder can be read through it.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { HarnessError, type SourceLocation } from '../errors.ts';
import { Skill, skillNamePattern } from '../runtime/skill.ts';

/** The input of a bundle skill: no `file` for the instructions and file list, or a file to read. */
export interface SkillBundleInput {
  file?: string | undefined;
}

/** What a bundle skill returns. */
export type SkillBundleOutput =
  | {
      name: string;
      instructions: string;
      /** Bundled files, relative to the folder, `/`-separated, sorted (SKILL.md itself left out). */
      files: string[];
      /** True when the folder has more than {@link maxListedFiles} files and the list was cut. */
      truncated?: boolean;
    }
  | { file: string; text: string };

/** The parsed head of a SKILL.md. */
export interface SkillBundleManifest {
  name: string;
  description: string;
  version: string;
  /** The body after the frontmatter, trimmed. */
  instructions: string;
  /** The folder, absolute. */
  dir: string;
  /** The SKILL.md, absolute. */
  file: string;
}

/** A skill loaded from a bundle folder. */
export interface SkillBundle extends Skill<SkillBundleInput, SkillBundleOutput> {
  /** The bundle folder, absolute. */
  readonly dir: string;
  /** The SKILL.md body. */
  readonly instructions: string;
}

/** Most files listed by a call without `file`. */
export const maxListedFiles = 500;
/** Largest file a call returns, in bytes (1 MiB). */
export const maxBundleFileBytes = 1024 * 1024;

const bundleInput = z.strictObject({
  file: z
    .string()
    .min(1)
    .optional()
    .describe('A file of the bundle, relative to it (as listed). Leave out to get the instructions.'),
});

/**
 * Reads a bundle's `SKILL.md` frontmatter and body (synchronously: config loading needs the
 * name). Throws `skill_bundle_invalid` naming `dir/SKILL.md:line` and the field: no folder or
 * no SKILL.md, no frontmatter, YAML that does not parse, a missing or bad `name`, a missing
 * `description`, a `version` that is not a string.
 */
export function readSkillBundleManifest(dir: string): SkillBundleManifest {
  const folder = resolve(dir);
  const file = join(folder, 'SKILL.md');
  const shown = join(dir, 'SKILL.md');
  const at = (line: number | undefined, path: string): SourceLocation => ({
    file: shown,
    path,
    ...(line === undefined ? {} : { line }),
  });
  const fail = (message: string, location: SourceLocation, hint: string, cause?: unknown): never => {
    const folderProblem = location.file === dir;
    throw new HarnessError(
      'skill_bundle_invalid',
      folderProblem
        ? message
        : `${location.file}${location.line === undefined ? '' : `:${location.line}`}: ${message}`,
      {
        location,
        hint,
        // `field` is the frontmatter field at fault, `folder` when the folder itself is missing.
        details: { dir: folder, field: folderProblem ? 'folder' : location.path },
        ...(cause === undefined ? {} : { cause }),
      },
    );
  };
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(folder);
  } catch (error) {
    return fail(
      `skill bundle folder ${dir} does not exist`,
      { file: dir, path: '' },
      'check the path',
      error,
    );
  }
  if (!stats.isDirectory()) {
    return fail(
      `skill bundle ${dir} is not a folder`,
      { file: dir, path: '' },
      'a bundle is a folder with a SKILL.md in it',
    );
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return fail(
      'the bundle has no SKILL.md',
      at(undefined, ''),
      'add a SKILL.md that starts with a --- frontmatter block (name, description) followed by the instructions',
      error,
    );
  }
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines[0]?.trim() !== '---') {
    return fail(
      'SKILL.md has no frontmatter (the first line must be ---)',
      at(1, 'frontmatter'),
      'start SKILL.md with ---, then name: and description: lines, then --- and the instructions',
    );
  }
  const end = lines.findIndex((line, i) => i > 0 && line.trim() === '---');
  if (end < 0) {
    return fail(
      'the frontmatter of SKILL.md is never closed (no second --- line)',
      at(1, 'frontmatter'),
      'end the frontmatter with a line holding only ---',
    );
  }
  // Line numbers of the frontmatter YAML are offset by the opening --- line.
  const lineCounter = new LineCounter();
  const doc = parseDocument(lines.slice(1, end).join('\n'), { lineCounter, uniqueKeys: true });
  const lineOf = (offset: number | undefined) =>
    offset === undefined ? undefined : lineCounter.linePos(offset).line + 1;
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const line = syntax.linePos?.[0]?.line;
    return fail(
      `the frontmatter is not valid YAML: ${syntax.message.split('\n')[0] ?? syntax.message}`,
      at(line === undefined ? 1 : line + 1, 'frontmatter'),
      'write the frontmatter as YAML key: value lines (quote values that contain ": ")',
      syntax,
    );
  }
  if (!isMap(doc.contents)) {
    return fail(
      'the frontmatter is not a mapping of fields',
      at(2, 'frontmatter'),
      'write name: and description: lines between the two --- lines',
    );
  }
  const map = doc.contents;
  const values = doc.toJS() as Record<string, unknown>;
  /** A field's value and the line of its value (or of its key when the value is empty). */
  const field = (key: string): { value: unknown; line: number | undefined } | undefined => {
    const pair = map.items.find((item) => isScalar(item.key) && item.key.value === key);
    if (pair === undefined) return undefined;
    const node = (pair.value ?? pair.key) as { range?: [number, number, number] | null } | null;
    return { value: values[key] ?? null, line: lineOf(node?.range?.[0]) };
  };

  const name = field('name');
  if (name === undefined || name.value === null || name.value === '') {
    return fail(
      'the frontmatter has no name',
      at(name?.line ?? 2, 'name'),
      'add name: my-skill (a letter first, then letters, digits, _ or -; at most 64 characters)',
    );
  }
  if (typeof name.value !== 'string' || !skillNamePattern.test(name.value)) {
    return fail(
      `bad skill name ${JSON.stringify(name.value)} in field name`,
      at(name.line, 'name'),
      'use a letter first, then letters, digits, _ or - (at most 64 characters), e.g. refund-policy',
    );
  }
  const description = field('description');
  if (description === undefined || typeof description.value !== 'string' || description.value.trim() === '') {
    return fail(
      'the frontmatter has no description',
      at(description?.line ?? 2, 'description'),
      'add description: one line telling the model when to use this skill and what it gives',
    );
  }
  const version = field('version');
  if (version !== undefined && (typeof version.value !== 'string' || version.value.trim() === '')) {
    return fail(
      `version must be a string, got ${JSON.stringify(version.value)}`,
      at(version.line, 'version'),
      'quote it: version: "1.2.0"',
    );
  }
  return {
    name: name.value,
    description: description.value.trim(),
    version: version === undefined ? '1.0.0' : (version.value as string).trim(),
    instructions: lines
      .slice(end + 1)
      .join('\n')
      .trim(),
    dir: folder,
    file,
  };
}

/**
 * Loads a `SKILL.md` bundle folder as a skill. Its input is `{ file?: string }`: without `file`
 * the skill returns `{ name, instructions, files }`; with `file`, `{ file, text }` for that file
 * (UTF-8, at most {@link maxBundleFileBytes}). Paths with `..`, absolute paths and symlinks that
 * lead outside the folder are refused with `skill_failed`.
 *
 * @throws HarnessError `skill_bundle_invalid` for a bad bundle (see {@link readSkillBundleManifest}).
 */
export function loadSkillBundle(dir: string): SkillBundle {
  const manifest = readSkillBundleManifest(dir);
  const root = realpathSync(manifest.dir);
  const skill = new Skill<SkillBundleInput, SkillBundleOutput>({
    name: manifest.name,
    description: `${manifest.description} (Call without "file" first for the instructions and the list of files; then with "file" to read one.)`,
    version: manifest.version,
    input: bundleInput,
    run: async ({ file }) => {
      if (file === undefined) {
        const { files, truncated } = await listFiles(root);
        return {
          name: manifest.name,
          instructions: manifest.instructions,
          files,
          ...(truncated ? { truncated } : {}),
        };
      }
      return { file, text: await readBundleFile(manifest.name, root, file) };
    },
  });
  return Object.assign(skill, { dir: manifest.dir, instructions: manifest.instructions });
}

/** Reads `file` inside `root` (a real path), refusing anything that leads outside it. */
async function readBundleFile(skill: string, root: string, file: string): Promise<string> {
  const refuse = (why: string): never => {
    throw new HarnessError(
      'skill_failed',
      `skill "${skill}" refused to read ${JSON.stringify(file)}: ${why}`,
      {
        hint: 'ask for a file from the list the skill gives without "file" (paths relative to the bundle)',
        details: { skill, file },
      },
    );
  };
  const segments = file.split(/[\\/]/);
  if (isAbsolute(file) || /^[A-Za-z]:/.test(file) || file.startsWith('\\'))
    refuse('absolute paths are not allowed');
  if (segments.includes('..')) refuse('".." is not allowed');
  const target = join(root, file);
  let real: string;
  try {
    real = await realpath(target);
  } catch {
    // A link whose target is missing is reported like a missing file; either way nothing is read.
    const link = await lstat(target).catch(() => undefined);
    return refuse(link?.isSymbolicLink() ? 'it is a broken link' : 'no such file in the bundle');
  }
  // Symlinks are followed only while they stay inside the bundle.
  if (real !== root && !real.startsWith(root + sep)) refuse('it leads outside the bundle');
  const stats = await stat(real);
  if (!stats.isFile()) refuse('it is not a file');
  if (stats.size > maxBundleFileBytes) refuse(`it is larger than ${maxBundleFileBytes} bytes`);
  return await readFile(real, 'utf8');
}

/** The bundle's files (relative, `/`-separated, sorted), links into the folder included. */
async function listFiles(root: string): Promise<{ files: string[]; truncated: boolean }> {
  const files: string[] = [];
  let truncated = false;
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (files.length >= maxListedFiles) {
        truncated = true;
        return;
      }
      const full = join(dir, entry.name);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const real = await realpath(full).catch(() => undefined);
        // Links that leave the bundle (or lead nowhere) are not listed: they cannot be read.
        if (real === undefined || (real !== root && !real.startsWith(root + sep))) continue;
        const target = await stat(real);
        // A link to a folder is listed as its files would be only once: links to folders are skipped.
        isDir = false;
        isFile = target.isFile();
      }
      const rel = relative(root, full).split(sep).join('/');
      if (isDir) await walk(full);
      else if (isFile && rel !== 'SKILL.md') files.push(rel);
    }
  };
  await walk(root);
  return { files, truncated };
}
