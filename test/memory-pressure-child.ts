/**
 * A process for the memory-pressure test, run as
 * `node --max-old-space-size=96 --conditions=forge-source test/memory-pressure-child.ts`.
 * It holds an evictable cache, starts a `MemoryPressure` healer with its defaults (watermarks
 * 85% / 75%) on a short interval, and follows commands on stdin, answering one JSON line each:
 *
 * - `fill`: allocates 1 MiB of ballast every few ms until the healer reports shedding, then
 *   reports the state, whether the evictor ran, and the error a new run would get.
 * - `free`: drops the ballast and goes on allocating short-lived garbage (as a busy process does,
 *   which brings the collections that return the memory) until the healer has recovered.
 */
import { createInterface } from 'node:readline';
import { HarnessError } from 'forge-harness';
import { MemoryPressure } from 'forge-harness/health';

const chunk = (fill: number) => new Array<number>(131_072).fill(fill); // 1 MiB of small integers

const pressure = new MemoryPressure({ intervalMs: 20 });
const cache = new Map<number, number[]>();
for (let i = 0; i < 4; i++) cache.set(i, chunk(i));
let evictorRuns = 0;
pressure.onPressure(() => {
  evictorRuns++;
  cache.clear();
});
const changes: boolean[] = [];
pressure.onChange((state) => changes.push(state.shedding));
pressure.start();

const say = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(message)}\n`);
let ballast: number[][] = [];

say({ event: 'ready', state: pressure.state(), cached: cache.size });

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'fill') {
    let n = 0;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (!pressure.shedding) {
          ballast.push(chunk(n++));
          return;
        }
        clearInterval(timer);
        let refused: unknown;
        try {
          pressure.throwIfShedding();
        } catch (error) {
          refused = HarnessError.isInstance(error) ? error.toJSON() : String(error);
        }
        say({
          event: 'shedding',
          state: pressure.state(),
          evictorRuns,
          cached: cache.size,
          ballastMiB: n,
          refused,
        });
        resolve();
      }, 5);
    });
  } else if (line === 'free') {
    ballast = [];
    let garbage: number[] = [];
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        garbage = chunk(garbage.length);
        if (pressure.shedding) return;
        clearInterval(timer);
        say({ event: 'recovered', state: pressure.state(), changes });
        resolve();
      }, 2);
    });
  } else if (line === 'exit') {
    pressure.stop();
    process.exit(0);
  }
}
