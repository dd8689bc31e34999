#!/usr/bin/env node
/**
 * The installed `forge` binary. It checks the Node version before loading anything else: the
 * harness needs Node 24 (node:sqlite, type stripping), and on an older Node the first import
 * would fail with a cryptic "No such built-in module" instead of saying what to do.
 */
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `forge: needs Node.js 24 or newer, this is ${process.version}\n` +
      "  hint: install Node 24, or run it once with: npx -y -p node@24 -c 'forge --help'\n",
  );
  process.exit(2);
}
const { runMain } = await import('./main.ts');
await runMain();
