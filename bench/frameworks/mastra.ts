/**
 * The benchmark councils in Mastra: committed workflows whose steps call Mastra `Agent`s on the
 * shared model (Mastra takes AI SDK `LanguageModelV4` models as they are), with no memory and no
 * storage configured, so nothing is persisted — as ours on `memory://` with no journal.
 */
import { Agent } from '@mastra/core/agent';
import type { MastraModelConfig } from '@mastra/core/llm';
import { createStep, createWorkflow } from '@mastra/core/workflows';
import { z } from 'zod';
import type { BenchAgent, BuildCouncils, FrameworkCouncils, FrameworkSetup } from '../councils.ts';

/** What flows between pipeline steps: the run input, the next agent's input, the last output. */
const handOff = z.object({ input: z.string(), current: z.string(), output: z.string() });
const question = z.object({ input: z.string() });
const answer = z.object({ agent: z.string(), output: z.string() });
const final = z.object({ output: z.string() });

export const buildCouncils: BuildCouncils = (setup: FrameworkSetup): FrameworkCouncils => {
  // The same object at run time. Only the types differ: Mastra pins @ai-sdk/provider 4.0.17, whose
  // finish reasons lack the later 'interrupted' (which the zero model never returns).
  const model = setup.model as unknown as MastraModelConfig;
  const agent = (a: BenchAgent) =>
    new Agent({ id: a.name.toLowerCase(), name: a.name, instructions: a.instructions, model });

  let pipeline = createWorkflow({ id: 'pipeline', inputSchema: handOff, outputSchema: handOff });
  for (const a of setup.pipeline) {
    const mastraAgent = agent(a);
    pipeline = pipeline.then(
      createStep({
        id: a.name,
        inputSchema: handOff,
        outputSchema: handOff,
        execute: async ({ inputData }) => {
          const { text } = await mastraAgent.generate(inputData.current);
          return {
            input: inputData.input,
            current: setup.handOff(inputData.input, a.name, text),
            output: text,
          };
        },
      }),
    );
  }
  pipeline.commit();

  const { workers, merge } = setup.parallel;
  const workerSteps = workers.map((w) => {
    const mastraAgent = agent(w);
    return createStep({
      id: w.name,
      inputSchema: question,
      outputSchema: answer,
      execute: async ({ inputData }) => ({
        agent: w.name,
        output: (await mastraAgent.generate(inputData.input)).text,
      }),
    });
  });
  const mergeAgent = agent(merge);
  const mergeStep = createStep({
    id: merge.name,
    // `.parallel()` hands on one record: each worker's output under its step id.
    inputSchema: z.record(z.string(), answer),
    outputSchema: final,
    execute: async ({ inputData, getInitData }) => {
      const { input } = getInitData<z.infer<typeof question>>();
      const outputs = workers.map((w) => inputData[w.name]!);
      return { output: (await mergeAgent.generate(setup.mergeInput(input, outputs))).text };
    },
  });
  const parallel = createWorkflow({ id: 'parallel', inputSchema: question, outputSchema: final })
    .parallel(workerSteps)
    .then(mergeStep)
    .commit();

  return {
    pipeline: async (input) => {
      const run = await pipeline.createRun();
      const result = await run.start({ inputData: { input, current: input, output: '' } });
      if (result.status !== 'success') throw new Error(`Mastra pipeline ended ${result.status}`);
      return result.result.output;
    },
    parallel: async (input) => {
      const run = await parallel.createRun();
      const result = await run.start({ inputData: { input } });
      if (result.status !== 'success') throw new Error(`Mastra parallel ended ${result.status}`);
      return result.result.output;
    },
  };
};
