/**
 * Dependency graphs of named nodes (a graph council's agents and their `dependsOn`): cycle
 * detection that returns the cycle in order, and topological levels. An edge `A -> B` means
 * "A depends on B", so a cycle reads the way the config is written: `A -> B -> C -> A` is A
 * depending on B, B on C and C on A.
 */

/**
 * A dependency graph: every node with the nodes it depends on, in declaration order (a `Map`
 * keeps insertion order, which makes every result below deterministic). Dependencies that are
 * not nodes of the graph are ignored: reporting unknown names is the validator's job.
 */
export type DependencyGraph = ReadonlyMap<string, readonly string[]>;

/**
 * The first cycle of `graph`, as the nodes along it with the first node repeated at the end
 * (`['A', 'B', 'C', 'A']`; a node depending on itself is `['A', 'A']`), or `undefined` when the
 * graph is acyclic. The cycle starts at its node declared first, so the same graph always gives
 * the same answer. Iterative depth-first search: deep chains do not overflow the stack.
 */
export function findCycle(graph: DependencyGraph): string[] | undefined {
  const order = new Map([...graph.keys()].map((node, i) => [node, i]));
  // 0 = unvisited, 1 = on the current path, 2 = done.
  const state = new Map<string, 0 | 1 | 2>();
  for (const start of graph.keys()) {
    if ((state.get(start) ?? 0) !== 0) continue;
    const path: string[] = [start];
    const next: number[] = [0];
    state.set(start, 1);
    while (path.length > 0) {
      const node = path[path.length - 1] as string;
      const deps = graph.get(node) ?? [];
      const i = next[next.length - 1] as number;
      if (i >= deps.length) {
        state.set(node, 2);
        path.pop();
        next.pop();
        continue;
      }
      next[next.length - 1] = i + 1;
      const dep = deps[i] as string;
      if (!graph.has(dep)) continue;
      const seen = state.get(dep) ?? 0;
      if (seen === 1) return rotate(path.slice(path.indexOf(dep)), order);
      if (seen === 0) {
        state.set(dep, 1);
        path.push(dep);
        next.push(0);
      }
    }
  }
  return undefined;
}

/** The cycle `nodes` (without the repeated end) started at its earliest-declared node, closed. */
function rotate(nodes: string[], order: ReadonlyMap<string, number>): string[] {
  let first = 0;
  for (let i = 1; i < nodes.length; i++) {
    if ((order.get(nodes[i] as string) ?? 0) < (order.get(nodes[first] as string) ?? 0)) first = i;
  }
  const rotated = [...nodes.slice(first), ...nodes.slice(0, first)];
  return [...rotated, rotated[0] as string];
}

/** A cycle as people read it: `A -> B -> C -> A`. */
export function formatCycle(cycle: readonly string[]): string {
  return cycle.join(' -> ');
}

/**
 * The nodes of an acyclic `graph` in levels: level 0 holds the nodes without dependencies,
 * level n the nodes whose deepest dependency is in level n-1. Nodes of one level never depend
 * on each other, so they can run at the same time. Within a level, nodes keep declaration
 * order. Throws a `RangeError` naming the cycle when there is one (validate with
 * {@link findCycle} first to report it properly).
 */
export function topologicalLevels(graph: DependencyGraph): string[][] {
  const cycle = findCycle(graph);
  if (cycle !== undefined) throw new RangeError(`dependency cycle ${formatCycle(cycle)}`);
  // Kahn's algorithm: a node is placed once all its dependencies are, one level below the deepest.
  const dependents = new Map<string, string[]>();
  const waiting = new Map<string, number>();
  for (const [node, deps] of graph) {
    const known = new Set(deps.filter((dep) => graph.has(dep)));
    waiting.set(node, known.size);
    for (const dep of known) dependents.set(dep, [...(dependents.get(dep) ?? []), node]);
  }
  const level = new Map<string, number>();
  const ready = [...graph.keys()].filter((node) => waiting.get(node) === 0);
  for (const node of ready) level.set(node, 0);
  for (let i = 0; i < ready.length; i++) {
    const node = ready[i] as string;
    for (const dependent of dependents.get(node) ?? []) {
      level.set(dependent, Math.max(level.get(dependent) ?? 0, (level.get(node) ?? 0) + 1));
      const left = (waiting.get(dependent) ?? 0) - 1;
      waiting.set(dependent, left);
      if (left === 0) ready.push(dependent);
    }
  }
  const levels: string[][] = [];
  for (const node of graph.keys()) {
    const n = level.get(node) ?? 0;
    while (levels.length <= n) levels.push([]);
    (levels[n] as string[]).push(node);
  }
  return levels;
}

/** The nodes no other node depends on (the outputs of a graph), in declaration order. */
export function sinks(graph: DependencyGraph): string[] {
  const depended = new Set<string>();
  for (const deps of graph.values()) for (const dep of deps) depended.add(dep);
  return [...graph.keys()].filter((node) => !depended.has(node));
}
