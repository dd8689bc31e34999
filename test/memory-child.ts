/**
 * A child process for the memory tests: opens a memory store (SQLite, or any URL the registry knows)
 * the way another process (a second worker) would and appends to it. Run as
 * `node test/memory-child.ts <mode> <url> [count]`.
 *
 * - `append-many`: prints `ready`, waits for `go <epoch ms>` on stdin, spins until that time (so two
 *   children start together), appends `count` messages with a timer tick between them, prints `done`.
 * - `append-forever`: appends until killed, printing `appended <seq>` after each append resolved.
 */

import { createInterface } from 'node:readline';
import { setTimeout as sleep, setImmediate as yieldToLoop } from 'node:timers/promises';
import { createSqliteStore, openMemoryStore } from '../src/memory/index.ts';

const [mode, url, countText] = process.argv.slice(2);
if (url === undefined)
  throw new Error('usage: node test/memory-child.ts <append-many|append-forever> <url> [count]');
const ns = { council: 'concurrency' };
// SQLite gets a long busy timeout (two children contend for one file lock); any other URL opens
// through the registry, as a worker configured with that URL would.
const store = url.startsWith('sqlite:')
  ? createSqliteStore(url, { busyTimeoutMs: 30_000 })
  : await openMemoryStore(url);

if (mode === 'append-many') {
  const count = Number(countText ?? '0');
  const lines = createInterface({ input: process.stdin });
  process.stdout.write('ready\n');
  const go = await new Promise<string>((resolve) => lines.once('line', resolve));
  lines.close();
  // Both children get the same start time and spin until it, so their appends overlap even though
  // the line reached them at slightly different moments.
  const startAt = Number(go.replace('go ', ''));
  while (Date.now() < startAt) {}
  for (let i = 0; i < count; i++) {
    await store.append(ns, { role: 'user', content: `${process.pid}:${i}`, meta: { pid: process.pid, i } });
    // A short pause, as between an agent's steps. Without it one process re-takes the write lock right
    // after each commit while the other's busy handler sleeps, so the runs barely interleave.
    await sleep(0);
  }
  await store.close();
  process.stdout.write('done\n');
} else if (mode === 'append-forever') {
  for (let i = 0; ; i++) {
    const message = await store.append(ns, { role: 'user', content: `forever:${i}` });
    process.stdout.write(`appended ${message.seq}\n`);
    // Let the write reach the pipe before the next append.
    await yieldToLoop();
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
