/**
 * The benchmark councils in LangGraph.js: compiled `StateGraph`s without a checkpointer (so, like
 * ours on `memory://` with no journal, nothing is persisted), each node one agent that calls the
 * shared model through AI SDK `generateText` — the leanest model call a LangGraph node can make.
 */
import { Annotation, END, START, StateGraph } from '@langchain/langgraph';
import type { BuildCouncils, FrameworkCouncils, FrameworkSetup } from '../councils.ts';

const PipelineState = Annotation.Root({
  /** The run input, kept for every hand-off. */
  input: Annotation<string>(),
  /** What the next agent gets: the input plus the previous agent's output. */
  current: Annotation<string>(),
  output: Annotation<string>(),
});

interface WorkerOutput {
  agent: string;
  output: string;
}

const ParallelState = Annotation.Root({
  input: Annotation<string>(),
  /** Every worker adds its answer; the reducer concatenates them (fan-in). */
  outputs: Annotation<WorkerOutput[]>({ reducer: (all, more) => all.concat(more), default: () => [] }),
  output: Annotation<string>(),
});

// Node names are the agents' names, known only at run time: the builder's type tracks literal
// names, so its node-name parameter is widened to string here.
type Graph<R extends typeof PipelineState | typeof ParallelState> = StateGraph<
  R['spec'],
  R['State'],
  R['Update'],
  string
>;

export const buildCouncils: BuildCouncils = (setup: FrameworkSetup): FrameworkCouncils => {
  const pipeline = new StateGraph(PipelineState) as unknown as Graph<typeof PipelineState>;
  let previous: string = START;
  for (const agent of setup.pipeline) {
    pipeline.addNode(agent.name, async (state: typeof PipelineState.State) => {
      const output = await setup.generate(agent.instructions, state.current);
      return { output, current: setup.handOff(state.input, agent.name, output) };
    });
    pipeline.addEdge(previous, agent.name);
    previous = agent.name;
  }
  pipeline.addEdge(previous, END);
  const pipelineGraph = pipeline.compile();

  // Fan-out from START to every worker; the merge node waits for all of them (one superstep).
  const parallel = new StateGraph(ParallelState) as unknown as Graph<typeof ParallelState>;
  const { workers, merge } = setup.parallel;
  const order = new Map(workers.map((w, i) => [w.name, i]));
  for (const worker of workers) {
    parallel.addNode(worker.name, async (state: typeof ParallelState.State) => ({
      outputs: [{ agent: worker.name, output: await setup.generate(worker.instructions, state.input) }],
    }));
    parallel.addEdge(START, worker.name);
  }
  parallel.addNode(merge.name, async (state: typeof ParallelState.State) => {
    // Workers finish in any order; the merge agent reads them in agent order, as ours does.
    const outputs = [...state.outputs].sort((a, b) => order.get(a.agent)! - order.get(b.agent)!);
    return { output: await setup.generate(merge.instructions, setup.mergeInput(state.input, outputs)) };
  });
  parallel.addEdge(
    workers.map((w) => w.name),
    merge.name,
  );
  parallel.addEdge(merge.name, END);
  const parallelGraph = parallel.compile();

  return {
    pipeline: async (input) => (await pipelineGraph.invoke({ input, current: input })).output,
    parallel: async (input) => (await parallelGraph.invoke({ input })).output,
  };
};
