/**
 * A child process for test/memory-postgres.test.ts and test/memory-pglite.test.ts: opens a memory
 * store by URL (through the registry, as another worker would) and appends to it.
 * Run as `node test/memory-sql-child.ts <mode> <url> [count]`.
 *
 * - `append-many`: prints `ready`, waits for `go <epoch ms>` on stdin, spins until that time (so two
 *   children start together), appends `count` messages with a timer tick between them, prints `done`.
 * - `append-forever`: appends until killed, printing `appended <seq>` after each append resolved.
 */

import { createInterface } from 'node:readline';
import { setTimeout as sleep, setImmediate as yieldToLoop } from 'node:timers/promises';
import { openMemoryStore } from '../src/memory/registry.ts';

const [mode, url, countText] = process.argv.slice(2);
if (url === undefined)
  throw new Error('usage: node test/memory-sql-child.ts <append-many|append-forever> <url> [count]');
const ns = { council: 'concurrency' };
const store = await openMemoryStore(url);

if (mode === 'append-many') {
  const count = Number(countText ?? '0');
  const lines = createInterface({ input: process.stdin });
  process.stdout.write('ready\n');
  const go = await new Promise<string>((resolve) => lines.once('line', resolve));
  lines.close();
  const startAt = Number(go.replace('go ', ''));
  while (Date.now() < startAt) {}
  for (let i = 0; i < count; i++) {
    await store.append(ns, { role: 'user', content: `${process.pid}:${i}`, meta: { pid: process.pid, i } });
    await sleep(0);
  }
  await store.close();
  process.stdout.write('done\n');
} else if (mode === 'append-forever') {
  for (let i = 0; ; i++) {
    const message = await store.append(ns, { role: 'user', content: `forever:${i}` });
    process.stdout.write(`appended ${message.seq}\n`);
    await yieldToLoop();
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
