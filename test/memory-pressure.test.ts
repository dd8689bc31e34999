// Seed §5.2 "memory exhaustion", for real: a process with a small heap fills it until the
// memory-pressure healer sheds (its caches evicted, new work refused with a retryable
// `overloaded` and a retry-after), then frees the memory and the healer recovers.
import { spawn } from 'node:child_process';
import { afterAll, expect, it } from 'vitest';
import { exited, killSpawned, lines, track } from './processes.ts';

afterAll(killSpawned);

const child = new URL('./memory-pressure-child.ts', import.meta.url).pathname;

it('sheds above the heap watermark, evicts caches, refuses new work, and recovers below it', async () => {
  const proc = track(
    spawn(process.execPath, ['--max-old-space-size=96', '--conditions=forge-source', child], {
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  let stderr = '';
  proc.stderr?.on('data', (data: Buffer) => {
    stderr += data.toString();
  });
  const output = lines(proc);
  const next = async () => {
    const line = await output.next();
    if (line.done) throw new Error(`the child ended early (exit ${proc.exitCode}): ${stderr}`);
    return JSON.parse(line.value) as Record<string, unknown> & { state: Record<string, unknown> };
  };

  const ready = await next();
  expect(ready).toMatchObject({ event: 'ready', cached: 4, state: { shedding: false } });
  // The limit is the old generation's, from --max-old-space-size (not V8's heap_size_limit).
  expect(ready.state.heapLimitBytes).toBe(96 * 2 ** 20);

  proc.stdin?.write('fill\n');
  const shedding = await next();
  expect(shedding).toMatchObject({
    event: 'shedding',
    cached: 0,
    state: { shedding: true, retryAfterMs: 5000, episodes: 1 },
    refused: { code: 'overloaded', isRetryable: true, details: { retryAfterMs: 5000 } },
  });
  expect(shedding.evictorRuns).toBeGreaterThanOrEqual(1);
  expect(shedding.state.ratio).toBeGreaterThanOrEqual(0.85);
  expect(shedding.state.ratio).toBeLessThan(1);

  proc.stdin?.write('free\n');
  const recovered = await next();
  expect(recovered).toMatchObject({ event: 'recovered', state: { shedding: false }, changes: [true, false] });
  expect(recovered.state.ratio).toBeLessThan(0.75);

  proc.stdin?.write('exit\n');
  expect(await exited(proc)).toBe(0);
}, 20_000);
