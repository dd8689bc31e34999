/**
 * `npm run bench -- NAME`: runs one benchmark. Each prints progress, then as its LAST line one
 * JSON object with its name and figures (`{"bench":"NAME",...}`).
 */
const benches: Record<string, () => Promise<unknown>> = {
  overhead: () => import('./overhead.ts'),
  memory: () => import('./memory.ts'),
  councils: () => import('./councils.ts'),
  concurrency: () => import('./concurrency.ts'),
  journal: () => import('./journal.ts'),
  outage: () => import('./outage.ts'),
};

const name = process.argv[2];
if (!name || !(name in benches)) {
  process.stderr.write(`usage: npm run bench -- <name>\nbenchmarks: ${Object.keys(benches).join(', ')}\n`);
  process.exitCode = 2;
} else {
  await benches[name]!();
}
