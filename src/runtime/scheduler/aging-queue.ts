/**
 * The run queue: one FIFO per priority, where a waiting entry's effective priority rises one
 * level every `agingMs`. The next entry is the one with the highest effective level; among equal
 * levels the one that arrived first. An aged low entry thus reaches `high` after 2 × `agingMs` and
 * then goes before every high entry that arrived after it — low never starves — while within one
 * priority arrival order is kept (an earlier entry has waited longer, so its level is never lower).
 */
import type { Priority } from './types.ts';

/** Priorities from lowest to highest; the index is the level. */
export const priorities: readonly Priority[] = ['low', 'normal', 'high'];

const levelOf: Record<Priority, number> = { low: 0, normal: 1, high: 2 };
const top = priorities.length - 1;

/** A queued entry; keep it to {@link AgingQueue.remove} the entry (e.g. on abort). */
export interface QueueEntry<T> {
  readonly item: T;
  readonly priority: Priority;
  /** When it was pushed, ms (the clock passed to `push`). */
  readonly enqueuedAt: number;
  /** Arrival number: ties between equal effective levels go to the lower. */
  readonly seq: number;
  /** @internal list links; undefined once removed. */
  prev: QueueEntry<T> | undefined;
  next: QueueEntry<T> | undefined;
  queued: boolean;
}

interface List<T> {
  head: QueueEntry<T> | undefined;
  tail: QueueEntry<T> | undefined;
  size: number;
}

export class AgingQueue<T> {
  readonly #agingMs: number;
  readonly #lists: Array<List<T>> = priorities.map(() => ({ head: undefined, tail: undefined, size: 0 }));
  #seq = 0;

  /** @param agingMs ms of waiting per level of promotion (> 0). */
  constructor(agingMs: number) {
    this.#agingMs = agingMs;
  }

  get size(): number {
    return this.#lists.reduce((sum, list) => sum + list.size, 0);
  }

  /** Entries waiting per base priority. */
  sizes(): Record<Priority, number> {
    return { low: this.#list('low').size, normal: this.#list('normal').size, high: this.#list('high').size };
  }

  /** Appends `item` at `priority`; `now` is the enqueue time in ms. */
  push(item: T, priority: Priority, now: number): QueueEntry<T> {
    const list = this.#list(priority);
    const entry: QueueEntry<T> = {
      item,
      priority,
      enqueuedAt: now,
      seq: this.#seq++,
      prev: list.tail,
      next: undefined,
      queued: true,
    };
    if (list.tail) list.tail.next = entry;
    else list.head = entry;
    list.tail = entry;
    list.size += 1;
    return entry;
  }

  /** Removes `entry`; false when it was already taken or removed. */
  remove(entry: QueueEntry<T>): boolean {
    if (!entry.queued) return false;
    const list = this.#list(entry.priority);
    if (entry.prev) entry.prev.next = entry.next;
    else list.head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else list.tail = entry.prev;
    entry.prev = undefined;
    entry.next = undefined;
    entry.queued = false;
    list.size -= 1;
    return true;
  }

  /** The level `entry` competes at, `now`: its base level plus one per `agingMs` waited, at most high. */
  effectiveLevel(entry: QueueEntry<T>, now: number): number {
    const aged = Math.floor(Math.max(0, now - entry.enqueuedAt) / this.#agingMs);
    return Math.min(top, levelOf[entry.priority] + aged);
  }

  /**
   * Removes and returns the next entry that `eligible` accepts (e.g. whose council is under its
   * cap), or undefined. Entries it rejects keep their place.
   */
  take(now: number, eligible?: (item: T) => boolean): QueueEntry<T> | undefined {
    let best: QueueEntry<T> | undefined;
    let bestLevel = -1;
    for (const list of this.#lists) {
      // The first eligible entry of a list has waited longest there, so it has the highest level.
      let entry = list.head;
      while (entry && eligible && !eligible(entry.item)) entry = entry.next;
      if (!entry) continue;
      const level = this.effectiveLevel(entry, now);
      if (level > bestLevel || (level === bestLevel && best !== undefined && entry.seq < best.seq)) {
        best = entry;
        bestLevel = level;
      }
    }
    if (best) this.remove(best);
    return best;
  }

  #list(priority: Priority): List<T> {
    return this.#lists[levelOf[priority]] as List<T>;
  }
}
