import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AgingQueue } from './aging-queue.ts';
import type { Priority } from './types.ts';

const priority = fc.constantFrom<Priority>('low', 'normal', 'high');

describe('AgingQueue', () => {
  it('takes high before normal before low when nobody has aged', () => {
    const q = new AgingQueue<string>(1000);
    q.push('l', 'low', 0);
    q.push('n', 'normal', 0);
    q.push('h', 'high', 0);
    expect([q.take(10)?.item, q.take(10)?.item, q.take(10)?.item, q.take(10)]).toEqual([
      'h',
      'n',
      'l',
      undefined,
    ]);
  });

  it('promotes a waiting entry one level per agingMs, and the older wins a tie', () => {
    const q = new AgingQueue<string>(100);
    const low = q.push('low', 'low', 0);
    q.push('high', 'high', 150);
    expect(q.effectiveLevel(low, 99)).toBe(0);
    expect(q.effectiveLevel(low, 100)).toBe(1);
    expect(q.effectiveLevel(low, 10_000)).toBe(2);
    // At 199 the low entry is at normal: high goes first.
    expect(q.take(199)?.item).toBe('high');
    q.push('high2', 'high', 199);
    // At 200 it is at high and arrived before high2.
    expect(q.take(200)?.item).toBe('low');
  });

  it('skips entries the predicate rejects, keeping their place', () => {
    const q = new AgingQueue<{ council: string; n: number }>(1000);
    q.push({ council: 'a', n: 1 }, 'high', 0);
    q.push({ council: 'b', n: 2 }, 'high', 0);
    q.push({ council: 'a', n: 3 }, 'high', 0);
    expect(q.take(0, (x) => x.council !== 'a')?.item.n).toBe(2);
    expect(q.take(0, (x) => x.council !== 'a')).toBeUndefined();
    expect(q.take(0)?.item.n).toBe(1);
    expect(q.sizes()).toEqual({ low: 0, normal: 0, high: 1 });
  });

  it('removes an entry from anywhere, once', () => {
    const q = new AgingQueue<number>(1000);
    const entries = [1, 2, 3].map((n) => q.push(n, 'normal', 0));
    expect(q.remove(entries[1] as never)).toBe(true);
    expect(q.remove(entries[1] as never)).toBe(false);
    expect(q.size).toBe(2);
    expect([q.take(0)?.item, q.take(0)?.item]).toEqual([1, 3]);
    expect(q.remove(entries[0] as never)).toBe(false);
  });

  it('keeps arrival order within a priority, whatever is interleaved (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ priority, gap: fc.nat(300), takes: fc.nat(2) }), { maxLength: 200 }),
        fc.integer({ min: 1, max: 500 }),
        (ops, agingMs) => {
          const q = new AgingQueue<{ priority: Priority; n: number }>(agingMs);
          const taken: Array<{ priority: Priority; n: number }> = [];
          let now = 0;
          ops.forEach((op, n) => {
            now += op.gap;
            q.push({ priority: op.priority, n }, op.priority, now);
            for (let i = 0; i < op.takes; i++) {
              const entry = q.take(now);
              if (entry) taken.push(entry.item);
            }
          });
          for (let entry = q.take(now); entry; entry = q.take(now)) taken.push(entry.item);
          expect(taken).toHaveLength(ops.length);
          for (const p of ['low', 'normal', 'high'] as const) {
            const ns = taken.filter((x) => x.priority === p).map((x) => x.n);
            expect(ns).toEqual([...ns].sort((a, b) => a - b));
          }
        },
      ),
      { seed: 20261127, numRuns: 500 },
    );
  });

  it('never starves low under a constant stream of high (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 2, max: 5 }),
        fc.nat(40),
        (agingMs, tick, highsPerTick, backlog) => {
          // Every tick more highs arrive than are taken, so without aging low would wait forever.
          const q = new AgingQueue<string>(agingMs);
          let now = 0;
          for (let i = 0; i < backlog; i++) q.push(`h${i}`, 'high', now);
          q.push('low', 'low', now);
          // Ahead of it: the backlog, and whatever arrives in the 2 × agingMs until it is high too.
          const bound = backlog + Math.ceil((2 * agingMs) / tick) + 1;
          for (let step = 1; step <= bound; step++) {
            now += tick;
            for (let h = 0; h < highsPerTick; h++) q.push(`h${step}-${h}`, 'high', now);
            if (q.take(now)?.item === 'low') return;
          }
          throw new Error(`low was not taken within ${bound} ticks`);
        },
      ),
      { seed: 20261128, numRuns: 500 },
    );
  });
});
