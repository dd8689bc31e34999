// The skill contract beyond input: output schemas (a mismatch is a tool error the model sees)
// and the opt-in LRU result cache (hits, misses, evictions, TTL, versions, single-flight).
import {
  Agent,
  Council,
  cacheStats,
  Harness,
  HarnessError,
  type RunEvent,
  registerProviderType,
  Skill,
  SkillCache,
  type SkillContext,
  withCache,
} from 'forge-harness';
import { ScriptedModel, type ScriptStep } from 'forge-harness/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';

const context = (signal: AbortSignal = new AbortController().signal) => ({ signal }) as SkillContext;

/** A counting skill: each execution returns the next number. */
function counter(
  options: { name?: string; version?: string; cache?: ConstructorParameters<typeof Skill>[0]['cache'] } = {},
) {
  const calls: unknown[] = [];
  const skill = new Skill({
    name: options.name ?? 'Lookup',
    description: 'Looks a record up.',
    ...(options.version === undefined ? {} : { version: options.version }),
    input: z.object({ id: z.string(), opts: z.record(z.string(), z.number()).optional() }),
    cache: options.cache ?? { size: 10, ttlMs: 60_000 },
    run: (input) => {
      calls.push(input);
      return { id: input.id, execution: calls.length };
    },
  });
  return { skill, calls };
}

let scripted: ScriptedModel = new ScriptedModel({ steps: [{ text: 'unused' }] });
registerProviderType('scripted-skills-cache', { create: () => scripted });

function harnessWith(skill: Skill | ReturnType<typeof withCache>, steps: ScriptStep[]) {
  scripted = new ScriptedModel({ steps });
  return new Harness({
    models: [{ id: 'm', type: 'scripted-skills-cache' }],
    memory: 'memory://',
    councils: [new Council({ name: 'C', agents: [new Agent({ name: 'A', model: 'm', skills: [skill] })] })],
  });
}

afterEach(() => {
  vi.useRealTimers();
});

describe('output schemas', () => {
  it('a result that does not match is a tool error naming the path; the model sees it and the run goes on', async () => {
    const quote = new Skill({
      name: 'Quote',
      description: 'Prices an order.',
      input: z.object({ sku: z.string() }),
      output: z.object({ sku: z.string(), lines: z.array(z.object({ price: z.number() })) }),
      run: ({ sku }) => ({ sku, lines: [{ price: 10 }, { price: 'ten' }] }) as never,
    });
    const harness = harnessWith(quote, [
      { toolCalls: [{ toolName: 'Quote', input: { sku: 'A-1' } }] },
      { text: 'The price service is broken; I will escalate.' },
    ]);
    const events: RunEvent[] = [];
    const result = await harness.run('C', 'price A-1', { onEvent: (e) => events.push(e) });
    expect(result.error?.format()).toBeUndefined();
    expect(result.output).toBe('The price service is broken; I will escalate.');
    const error = events.find((e) => e.type === 'tool-call-error');
    expect(error).toMatchObject({ tool: 'Quote', error: { code: 'skill_failed' } });
    expect(error?.type === 'tool-call-error' && error.error.message).toContain('lines[1].price');
    expect(events.some((e) => e.type === 'tool-call-finish')).toBe(false);
    // The model's second call carried the failure back as the tool result.
    expect(JSON.stringify(scripted.calls[1]?.prompt)).toContain('lines[1].price');
    await harness.stop();
  });

  it('a matching result is the parsed value, also for a subclass that overrides run()', async () => {
    class Greeter extends Skill<{ name: string }, { greeting: string }> {
      constructor() {
        super({
          name: 'Greeter',
          description: 'Greets.',
          input: z.object({ name: z.string() }),
          output: z.object({ greeting: z.string() }),
        });
      }
      override run(input: { name: string }, _context: SkillContext) {
        return { greeting: `hello ${input.name}`, internal: 'dropped' } as { greeting: string };
      }
    }
    const greeter = new Greeter();
    expect(greeter.outputSchema).toBeDefined();
    await expect(greeter.run({ name: 'Ada' }, context())).resolves.toEqual({ greeting: 'hello Ada' });

    class Broken extends Greeter {
      override run(_input: { name: string }, _context: SkillContext) {
        return { greeting: 42 } as unknown as { greeting: string };
      }
    }
    const error = await Promise.resolve(new Broken().run({ name: 'x' }, context())).catch((e: unknown) => e);
    expect(HarnessError.isInstance(error) && error.code).toBe('skill_failed');
    expect((error as HarnessError).details).toMatchObject({
      skill: 'Greeter',
      issues: [{ path: 'greeting' }],
    });
  });
});

describe('skill cache', () => {
  it('serves an input seen before from the cache, whatever its key order, as a copy', async () => {
    const { skill, calls } = counter();
    const first = await skill.run({ id: '1', opts: { a: 1, b: 2 } }, context());
    const again = await skill.run({ opts: { b: 2, a: 1 }, id: '1' }, context());
    expect(again).toEqual(first);
    expect(calls).toHaveLength(1);
    (again as { execution: number }).execution = 99;
    expect(await skill.run({ id: '1', opts: { a: 1, b: 2 } }, context())).toEqual({ id: '1', execution: 1 });
    await skill.run({ id: '2' }, context());
    expect(cacheStats(skill)).toEqual({ hits: 2, misses: 2, size: 2, evictions: 0 });
  });

  it('evicts the least recently used result when full', async () => {
    const { skill, calls } = counter({ cache: { size: 2, ttlMs: 0 } });
    const get = (id: string) => skill.run({ id }, context());
    await get('a');
    await get('b');
    await get('a'); // hit: a is now the most recently used
    await get('c'); // evicts b
    expect(calls).toHaveLength(3);
    await get('a'); // still there
    expect(calls).toHaveLength(3);
    await get('b'); // evicted: runs again, and pushes out c
    expect(calls.map((c) => (c as { id: string }).id)).toEqual(['a', 'b', 'c', 'b']);
    expect(cacheStats(skill)).toEqual({ hits: 2, misses: 4, size: 2, evictions: 2 });
  });

  it('expires results after ttlMs (fake timers)', async () => {
    vi.useFakeTimers();
    const { skill, calls } = counter({ cache: { size: 10, ttlMs: 1000 } });
    await skill.run({ id: 'x' }, context());
    vi.advanceTimersByTime(999);
    await skill.run({ id: 'x' }, context());
    expect(calls).toHaveLength(1);
    vi.advanceTimersByTime(2);
    expect(cacheStats(skill)?.size).toBe(0);
    await skill.run({ id: 'x' }, context());
    expect(calls).toHaveLength(2);
    expect(cacheStats(skill)).toMatchObject({ hits: 1, misses: 2, size: 1, evictions: 0 });
  });

  it('a new version of a skill never sees the results of an old one, in a shared cache', async () => {
    const shared = new SkillCache({ size: 10, ttlMs: 60_000 });
    const v1 = counter({ version: '1.0.0', cache: shared });
    const v2 = counter({ version: '1.1.0', cache: shared });
    await v1.skill.run({ id: 'x' }, context());
    await v2.skill.run({ id: 'x' }, context());
    expect([v1.calls.length, v2.calls.length]).toEqual([1, 1]);
    await v1.skill.run({ id: 'x' }, context());
    await v2.skill.run({ id: 'x' }, context());
    expect([v1.calls.length, v2.calls.length]).toEqual([1, 1]);
    expect(shared.stats()).toEqual({ hits: 2, misses: 2, size: 2, evictions: 0 });
  });

  it('caches only successes', async () => {
    let runs = 0;
    const flaky = new Skill({
      name: 'Flaky',
      description: 'Fails once.',
      input: z.object({ q: z.string() }),
      cache: { size: 5 },
      run: () => {
        runs++;
        if (runs === 1) throw new Error('database unavailable');
        return { ok: true };
      },
    });
    await expect(Promise.resolve(flaky.run({ q: 'x' }, context()))).rejects.toThrow('database unavailable');
    await expect(flaky.run({ q: 'x' }, context())).resolves.toEqual({ ok: true });
    await expect(flaky.run({ q: 'x' }, context())).resolves.toEqual({ ok: true });
    expect(runs).toBe(2);
    expect(cacheStats(flaky)).toEqual({ hits: 1, misses: 2, size: 1, evictions: 0 });
  });

  it('identical calls in flight share one execution (single-flight)', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let runs = 0;
    const slow = new Skill({
      name: 'Slow',
      description: 'Takes a while.',
      input: z.object({ id: z.string() }),
      cache: { size: 5 },
      run: async ({ id }) => {
        runs++;
        await gate;
        return { id, at: runs };
      },
    });
    const calls = [
      slow.run({ id: 'a' }, context()),
      slow.run({ id: 'a' }, context()),
      slow.run({ id: 'a' }, context()),
      slow.run({ id: 'b' }, context()),
    ];
    await vi.waitFor(() => expect(runs).toBe(2));
    release();
    const results = await Promise.all(calls);
    expect(results.slice(0, 3)).toEqual([results[0], results[0], results[0]]);
    expect(runs).toBe(2);
    expect(cacheStats(slow)).toEqual({ hits: 2, misses: 2, size: 2, evictions: 0 });
  });

  it('a waiting call stops on its own abort; another caller’s abort makes the next one run itself', async () => {
    let runs = 0;
    const waits: Array<() => void> = [];
    const slow = new Skill({
      name: 'Slow',
      description: 'Takes a while; honours abort.',
      input: z.object({ id: z.string() }),
      cache: { size: 5 },
      run: async (_input, ctx) => {
        runs++;
        await new Promise<void>((resolve, reject) => {
          waits.push(resolve);
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
        });
        return { run: runs };
      },
    });
    const leader = new AbortController();
    const waiter = new AbortController();
    const first = Promise.resolve(slow.run({ id: 'a' }, context(leader.signal))).catch((e: unknown) => e);
    const second = Promise.resolve(slow.run({ id: 'a' }, context(waiter.signal))).catch((e: unknown) => e);
    const third = slow.run({ id: 'a' }, context());
    await vi.waitFor(() => expect(runs).toBe(1));
    waiter.abort();
    expect(await second).toMatchObject({ code: 'aborted' });
    leader.abort(Object.assign(new Error('stop'), { name: 'AbortError' }));
    expect(await first).toMatchObject({ name: 'AbortError' });
    // The third call did not inherit the first one's abort: it ran the skill itself.
    await vi.waitFor(() => expect(runs).toBe(2));
    waits[1]?.();
    await expect(third).resolves.toEqual({ run: 2 });
  });

  it('withCache() gives a code skill a cache; a second cache is refused', async () => {
    let runs = 0;
    const plain = new Skill({
      name: 'Plain',
      description: 'No cache of its own.',
      input: z.object({ q: z.string() }),
      run: ({ q }) => ({ q, runs: ++runs }),
    });
    expect(cacheStats(plain)).toBeUndefined();
    const cached = withCache(plain, { size: 3, ttlMs: 5000 });
    expect([cached.name, cached.version, cached.inputSchema]).toEqual([
      plain.name,
      plain.version,
      plain.inputSchema,
    ]);
    await cached.run({ q: 'x' } as never, context());
    await cached.run({ q: 'x' } as never, context());
    expect(runs).toBe(1);
    expect(cacheStats(cached)).toMatchObject({ hits: 1, misses: 1 });
    expect(() => withCache(cached)).toThrow(expect.objectContaining({ code: 'config_invalid' }));
    expect(() => new Skill({ name: 'Bad', description: 'x', cache: { size: -1 }, run: () => 1 })).toThrow(
      expect.objectContaining({ code: 'config_invalid', location: { path: 'Skill(Bad).cache.size' } }),
    );
  });

  it('in a council, the second run is answered from the cache', async () => {
    const { skill, calls } = counter();
    const call = { toolCalls: [{ toolName: 'Lookup', input: { id: '7' } }] };
    const harness = harnessWith(skill, [call, { text: 'first' }, call, { text: 'second' }]);
    const events: RunEvent[] = [];
    for (const expected of ['first', 'second']) {
      const result = await harness.run('C', 'look up 7', { onEvent: (e) => events.push(e) });
      expect(result.output).toBe(expected);
    }
    expect(calls).toHaveLength(1);
    const outputs = events
      .filter((e) => e.type === 'tool-call-finish')
      .map((e) => e.type === 'tool-call-finish' && e.output);
    expect(outputs).toEqual([
      { id: '7', execution: 1 },
      { id: '7', execution: 1 },
    ]);
    expect(cacheStats(skill)).toMatchObject({ hits: 1, misses: 1 });
    await harness.stop();
  });
});
