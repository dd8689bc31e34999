import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type DependencyGraph, findCycle, formatCycle, sinks, topologicalLevels } from './graph.ts';

function graph(entries: Record<string, string[]>): DependencyGraph {
  return new Map(Object.entries(entries));
}

describe('findCycle', () => {
  it('is undefined for an acyclic graph', () => {
    expect(findCycle(graph({ A: ['B', 'C'], B: ['C'], C: [] }))).toBeUndefined();
    expect(findCycle(graph({}))).toBeUndefined();
  });

  it('returns the cycle in dependency order, closed, from its earliest-declared node', () => {
    expect(findCycle(graph({ A: ['B'], B: ['C'], C: ['A'] }))).toEqual(['A', 'B', 'C', 'A']);
    // Entered from D, but reported from B, the first declared node on the cycle.
    expect(findCycle(graph({ D: ['C'], B: ['C'], C: ['E'], E: ['B'] }))).toEqual(['B', 'C', 'E', 'B']);
  });

  it('finds a self-dependency and a two-node cycle', () => {
    expect(findCycle(graph({ A: [], B: ['B'] }))).toEqual(['B', 'B']);
    expect(findCycle(graph({ A: ['B'], B: ['A'] }))).toEqual(['A', 'B', 'A']);
  });

  it('ignores dependencies that are not nodes', () => {
    expect(findCycle(graph({ A: ['Missing'], B: ['A'] }))).toBeUndefined();
  });

  it('handles a 20,000-node chain without overflowing the stack', () => {
    const chain = new Map<string, string[]>();
    for (let i = 0; i < 20_000; i++) chain.set(`n${i}`, i + 1 < 20_000 ? [`n${i + 1}`] : ['n0']);
    const cycle = findCycle(chain);
    expect(cycle).toHaveLength(20_001);
    expect(cycle?.[0]).toBe('n0');
    chain.set('n19999', []);
    expect(findCycle(chain)).toBeUndefined();
    expect(topologicalLevels(chain)).toHaveLength(20_000);
  });

  it('every reported cycle is made of real edges, and acyclic graphs get none (property)', () => {
    const names = ['A', 'B', 'C', 'D', 'E', 'F'];
    const arbitraryGraph = fc
      .array(fc.tuple(fc.constantFrom(...names), fc.constantFrom(...names)), { maxLength: 12 })
      .map((edges) => {
        const g = new Map<string, string[]>(names.map((n) => [n, []]));
        for (const [from, to] of edges) g.get(from)?.push(to);
        return g;
      });
    fc.assert(
      fc.property(arbitraryGraph, (g) => {
        const cycle = findCycle(g);
        if (cycle === undefined) {
          // Acyclic: the levels order every edge.
          const levels = topologicalLevels(g);
          const level = new Map(levels.flatMap((nodes, i) => nodes.map((n) => [n, i] as const)));
          for (const [node, deps] of g)
            for (const dep of deps) expect(level.get(dep)).toBeLessThan(level.get(node) ?? 0);
          return;
        }
        expect(cycle[0]).toBe(cycle.at(-1));
        for (let i = 0; i + 1 < cycle.length; i++) expect(g.get(cycle[i] as string)).toContain(cycle[i + 1]);
        expect(() => topologicalLevels(g)).toThrow(RangeError);
      }),
      { seed: 4, numRuns: 300 },
    );
  });
});

describe('formatCycle', () => {
  it('spells the cycle with arrows', () => {
    expect(formatCycle(['A', 'B', 'C', 'A'])).toBe('A -> B -> C -> A');
  });
});

describe('topologicalLevels', () => {
  it('groups independent nodes into levels, in declaration order', () => {
    expect(
      topologicalLevels(
        graph({ Writer: ['Facts', 'Style'], Facts: [], Style: [], Review: ['Writer', 'Facts'] }),
      ),
    ).toEqual([['Facts', 'Style'], ['Writer'], ['Review']]);
  });

  it('places a node one level below its deepest dependency', () => {
    expect(topologicalLevels(graph({ A: [], B: ['A'], C: ['B'], D: ['A'], E: ['C', 'D'] }))).toEqual([
      ['A'],
      ['B', 'D'],
      ['C'],
      ['E'],
    ]);
  });

  it('throws a RangeError naming a cycle', () => {
    expect(() => topologicalLevels(graph({ A: ['B'], B: ['A'] }))).toThrow('dependency cycle A -> B -> A');
  });
});

describe('sinks', () => {
  it('lists the nodes nobody depends on', () => {
    expect(sinks(graph({ A: [], B: ['A'], C: ['A'] }))).toEqual(['B', 'C']);
    expect(sinks(graph({ A: [] }))).toEqual(['A']);
  });
});
