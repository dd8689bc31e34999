import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { LoopGate } from './loop-gate.ts';

/** Keeps the thread busy for `ms` (the gate measures real time). */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

describe('LoopGate', () => {
  it('lets work of runs in flight through at once while the turn is young and nobody waits', () => {
    const gate = new LoopGate(50);
    expect(gate.pass()).toBeUndefined();
    expect(gate.pass()).toBeUndefined();
    expect(gate.stats().parked).toBe(0);
  });

  it('starts a new run in a later turn, in released batches, even on an idle loop', async () => {
    const gate = new LoopGate(50);
    const started: number[] = [];
    const all = Array.from({ length: 5 }, (_, i) => gate.pass('start')?.then(() => started.push(i)));
    expect(all.every((p) => p instanceof Promise)).toBe(true);
    await Promise.resolve();
    expect(started).toEqual([]);
    await Promise.all(all);
    expect(started).toEqual([0, 1, 2, 3, 4]);
  });

  it('parks work once the turn has run past its slice, and releases it in a later turn', async () => {
    const gate = new LoopGate(5);
    expect(gate.pass()).toBeUndefined();
    busy(8);
    const parked = gate.pass();
    expect(parked).toBeInstanceOf(Promise);
    expect(gate.stats()).toMatchObject({ waiting: { continue: 1, start: 0 }, parked: 1 });
    let released = false;
    void parked?.then(() => {
      released = true;
    });
    await Promise.resolve();
    expect(released).toBe(false);
    await parked;
    expect(gate.stats().waiting).toEqual({ continue: 0, start: 0 });
    // A new turn: the slice starts afresh.
    await nextTurn();
    expect(gate.pass()).toBeUndefined();
  });

  it('releases continuations of running work before new starts, each kind in order', async () => {
    const gate = new LoopGate(1);
    gate.pass();
    busy(3);
    const order: string[] = [];
    const all = [
      gate.pass('start')?.then(() => order.push('start 1')),
      gate.pass('continue')?.then(() => order.push('continue 1')),
      gate.pass('start')?.then(() => order.push('start 2')),
      gate.pass('continue')?.then(() => order.push('continue 2')),
    ];
    expect(all.every((p) => p instanceof Promise)).toBe(true);
    await Promise.all(all);
    expect(order).toEqual(['continue 1', 'continue 2', 'start 1', 'start 2']);
  });

  it('queues new work behind waiting work even in a fresh turn (first come, first served)', async () => {
    const gate = new LoopGate(1);
    gate.pass();
    busy(3);
    const first = gate.pass();
    expect(first).toBeInstanceOf(Promise);
    // Same turn, queue not empty: a continuation waits its turn too.
    expect(gate.pass()).toBeInstanceOf(Promise);
    await first;
  });

  it('steers the batch: long turns shrink it, short turns grow it', async () => {
    const gate = new LoopGate(2);
    gate.pass();
    busy(4);
    // Each released waiter keeps the loop busy for 3 ms: turns run long, the batch falls to 1.
    const heavy = Array.from({ length: 40 }, () => gate.pass()?.then(() => busy(3)));
    await Promise.all(heavy);
    expect(gate.stats().batch).toBeLessThanOrEqual(2);
    gate.pass();
    busy(4);
    // Cheap waiters: the batch grows again.
    const light = Array.from({ length: 3000 }, () => gate.pass());
    await Promise.all(light);
    expect(gate.stats().batch).toBeGreaterThan(16);
  });

  it('does nothing at sliceMs 0 and refuses a bad slice', () => {
    const gate = new LoopGate(0);
    busy(2);
    expect(gate.pass()).toBeUndefined();
    expect(() => new LoopGate(-1)).toThrow(/sliceMs must be a number ≥ 0/);
    expect(() => new LoopGate(Number.NaN)).toThrow(RangeError);
  });
});
