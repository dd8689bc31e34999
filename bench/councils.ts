/**
 * councils: the same councils run by forge-harness, LangGraph.js and Mastra on one zero-latency
 * AI SDK model, so what differs is only what each framework does around the model calls.
 *
 * - `pipeline`: 3 agents one after another; each gets the run input plus the previous agent's
 *   output (`[Name] output`, as our `pipeline` strategy hands off); the last one answers.
 * - `parallel`: 5 agents: 4 answer the run input at the same time, then a merge agent answers
 *   from the input plus their labelled outputs in agent order (our `parallel` with `merge:`).
 *
 * Each framework runs its councils the way its users write them: ours through `Harness.run` with
 * its defaults, storage aside; LangGraph as compiled `StateGraph`s without a checkpointer, each
 * node calling AI SDK `generateText`; Mastra as committed workflows whose steps call Mastra
 * `Agent`s (no memory, no storage). Ours runs twice: `ours` on `memory://` with no journal (the
 * others keep nothing either; the headline ratios), and `ours_defaults` on the embedded defaults,
 * SQLite memory and SQLite run journal (in a temporary folder). Every framework gets the very
 * same `LanguageModelV4` object. Before timing, the bench checks that each answers and that the
 * model saw exactly the same user inputs per run from each (the same calls, the same hand-offs).
 *
 * Time: after a warm-up, rounds alternate the frameworks (the order rotates per round) so machine
 * noise hits all of them; the figure is the median of all single-run durations. Each run starts
 * on a fresh event-loop turn, as in a server (a zero-latency model would otherwise chain every run
 * on microtasks and starve timers and finalizers). Memory: what a
 * run leaves on the heap, in a child process per framework and shape (nothing else loaded):
 * after a settling batch, the slope of the heap (read after a full GC) over a second batch. Ours
 * keeps every agent's thread in its memory, which the others do not.
 *
 * The other frameworks live in `bench/frameworks/` with their own package.json (never a
 * dependency of forge-harness): `npm --prefix bench/frameworks ci` first (bench/README.md).
 * Goal (orchestration issue): ours / theirs ≤ 0.5 in time, for every shape.
 *
 * Environment: BENCH_RUNS (timed runs per framework and shape, default 2000), BENCH_ROUNDS (10),
 * BENCH_WARMUP (300), BENCH_MEMORY_RUNS (1000), BENCH_SHAPES (`pipeline,parallel`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type {
  LanguageModelV4,
  LanguageModelV4CallOptions,
  LanguageModelV4StreamPart,
  LanguageModelV4Usage,
} from '@ai-sdk/provider';
import { generateText } from 'ai';
import { type CouncilSpec, Harness, type HarnessOptions, registerProviderType } from 'forge-harness';

/** One agent of a benchmark council, as every framework builds it. */
export interface BenchAgent {
  name: string;
  /** The system prompt. */
  instructions: string;
}

/** What a framework's council builder gets: the shared model, the councils' agents and hand-offs. */
export interface FrameworkSetup {
  /** The zero-latency model every framework calls (the same object). */
  model: LanguageModelV4;
  /**
   * One plain AI SDK call (`generateText` of the harness's `ai@7`) on `model`, for frameworks whose
   * nodes call a model function themselves (LangGraph): it resolves to the answer text.
   */
  generate(instructions: string, prompt: string): Promise<string>;
  /** The agents of the pipeline council, in order. */
  pipeline: readonly BenchAgent[];
  /** The parallel council: `workers` answer the input at once, then `merge` answers from their outputs. */
  parallel: { workers: readonly BenchAgent[]; merge: BenchAgent };
  /** The next pipeline agent's input, as our `pipeline` strategy hands off: the input plus `[Name] output`. */
  handOff(input: string, agent: string, output: string): string;
  /** The merge agent's input, as our `parallel` strategy builds it: the input plus `[Name] output` per worker. */
  mergeInput(input: string, outputs: ReadonlyArray<{ agent: string; output: string }>): string;
}

/** A framework's councils: each runs once on `input` and resolves to the council's answer. */
export interface FrameworkCouncils {
  pipeline(input: string): Promise<string>;
  parallel(input: string): Promise<string>;
}

/** Builds a framework's councils: what each `bench/frameworks/*.ts` exports as `buildCouncils`. */
export type BuildCouncils = (setup: FrameworkSetup) => FrameworkCouncils | Promise<FrameworkCouncils>;

type Shape = keyof FrameworkCouncils;
const allShapes: readonly Shape[] = ['pipeline', 'parallel'];
const contenders = ['ours', 'ours_defaults', 'langgraph', 'mastra'] as const;
type Contender = (typeof contenders)[number];

const runs = Number(process.env.BENCH_RUNS ?? 2000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 10);
const warmup = Number(process.env.BENCH_WARMUP ?? 300);
const memoryRuns = Number(process.env.BENCH_MEMORY_RUNS ?? 1000);
const shapes = (process.env.BENCH_SHAPES ?? allShapes.join(',')).split(',').map((s) => s.trim()) as Shape[];
for (const shape of shapes) {
  if (!allShapes.includes(shape))
    throw new Error(`BENCH_SHAPES: unknown shape "${shape}" (${allShapes.join(', ')})`);
}
const goal = 0.5;
const input = 'A customer writes: my order #1234 arrived damaged. What should we do?';

// Mastra reports feature usage to its vendor unless told not to; this machine has no network for it.
process.env.MASTRA_TELEMETRY_DISABLED ??= '1';

/** `gc()` without asking the caller for `node --expose-gc`: the flag can be set at run time. */
function fullGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
const gc = fullGc();

// The model answers "ok" at once (doGenerate for generateText, doStream for the streaming agent
// loops of ours and Mastra). While `seen` is set (the equivalence check only, never while timing)
// it records the last user message of every call.
const usage: LanguageModelV4Usage = {
  inputTokens: { total: 12, noCache: 12, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 1, text: 1, reasoning: 0 },
};
const answer = 'ok';
let seen: string[] | undefined;
function record(options: LanguageModelV4CallOptions): void {
  if (!seen) return;
  const user = options.prompt.findLast((m) => m.role === 'user');
  const text = user?.content.map((part) => (part.type === 'text' ? part.text : `<${part.type}>`)).join('');
  seen.push(text ?? '<no user message>');
}
const zero: LanguageModelV4 = {
  specificationVersion: 'v4',
  provider: 'bench-zero',
  modelId: 'zero',
  supportedUrls: {},
  doGenerate: async (options) => {
    record(options);
    return {
      content: [{ type: 'text', text: answer }],
      finishReason: { unified: 'stop', raw: 'stop' },
      usage,
      warnings: [],
    };
  },
  doStream: async (options) => {
    record(options);
    const parts: LanguageModelV4StreamPart[] = [
      { type: 'stream-start', warnings: [] },
      { type: 'text-start', id: 't0' },
      { type: 'text-delta', id: 't0', delta: answer },
      { type: 'text-end', id: 't0' },
      { type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage },
    ];
    return {
      stream: new ReadableStream<LanguageModelV4StreamPart>({
        start(controller) {
          for (const part of parts) controller.enqueue(part);
          controller.close();
        },
      }),
    };
  },
};

const setup: FrameworkSetup = {
  model: zero,
  generate: async (instructions, prompt) =>
    (await generateText({ model: zero, instructions, prompt, maxRetries: 0 })).text,
  pipeline: [
    { name: 'Triage', instructions: 'Classify the request in one word.' },
    { name: 'Resolver', instructions: 'Propose a resolution in one sentence.' },
    { name: 'Reviewer', instructions: 'Check the resolution and answer the customer.' },
  ],
  parallel: {
    workers: [
      { name: 'Billing', instructions: 'Answer from the billing side.' },
      { name: 'Shipping', instructions: 'Answer from the shipping side.' },
      { name: 'Policy', instructions: 'Answer from the returns policy.' },
      { name: 'Tone', instructions: 'Say how to word the answer.' },
    ],
    merge: { name: 'Editor', instructions: 'Merge the answers into one reply.' },
  },
  handOff: (text, agent, output) => `${text}\n\n[${agent}] ${output}`,
  mergeInput: (text, outputs) => `${text}\n\n${outputs.map((o) => `[${o.agent}] ${o.output}`).join('\n\n')}`,
};

/** The user inputs one run of `shape` must show the model, in any order (parallel agents race). */
function expectedInputs(shape: Shape): string[] {
  if (shape === 'pipeline') {
    return setup.pipeline.map((_, i) =>
      i === 0 ? input : setup.handOff(input, setup.pipeline[i - 1]!.name, answer),
    );
  }
  const { workers } = setup.parallel;
  return [
    ...workers.map(() => input),
    setup.mergeInput(
      input,
      workers.map((w) => ({ agent: w.name, output: answer })),
    ),
  ];
}

/**
 * Our councils on a harness with its defaults but for `storage`: `memory://` and no journal (what
 * the other frameworks keep: nothing), or the embedded defaults — SQLite memory and SQLite run
 * journal, as `sqlite://.forge/*.db` would be, in a temporary folder.
 */
function ourCouncils(storage: Pick<HarnessOptions, 'memory' | 'journal'>): {
  councils: FrameworkCouncils;
  harness: Harness;
} {
  const agents = (list: readonly BenchAgent[]): CouncilSpec['agents'] =>
    list.map((a) => ({ name: a.name, model: 'zero', instructions: a.instructions }));
  const harness = new Harness({
    models: [{ id: 'zero', type: 'bench-zero', contextWindow: 128_000 }],
    ...storage,
    councils: [
      { name: 'pipeline', agents: agents(setup.pipeline) },
      {
        name: 'parallel',
        strategy: 'parallel',
        merge: setup.parallel.merge.name,
        agents: agents([...setup.parallel.workers, setup.parallel.merge]),
      },
    ],
  });
  // The LangGraph nodes and Mastra steps make one non-streaming call each; so do ours by default
  // (RunOptions.stream unset: nobody watches these runs live, so no token deltas; every other
  // event, journal and budget as usual).
  const run = async (council: string, text: string) => {
    const result = await harness.run(council, text);
    if (result.status !== 'succeeded') throw result.error ?? new Error(`run ${result.status}`);
    return result.output;
  };
  return {
    councils: { pipeline: (text) => run('pipeline', text), parallel: (text) => run('parallel', text) },
    harness,
  };
}

/** Loads a framework module from bench/frameworks (its own package scope and node_modules). */
async function loadFramework(file: string): Promise<BuildCouncils> {
  // A computed specifier: the root tsconfig does not follow it into bench/frameworks, whose
  // packages CI does not install (bench/frameworks/tsconfig.json checks those files).
  const url = new URL(`./frameworks/${file}`, import.meta.url).href;
  try {
    const module = (await import(url)) as { buildCouncils: BuildCouncils };
    return module.buildCouncils;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND') {
      process.stderr.write(
        `councils: ${file} cannot load its framework (${(error as Error).message})\n` +
          'install the frameworks first: npm --prefix bench/frameworks ci\n',
      );
      process.exit(2);
    }
    throw error;
  }
}

/** The installed version of `name` in the node_modules folder `dir` (relative to bench/). */
function packageVersion(dir: string, name: string): string {
  try {
    const file = new URL(`${dir}/${name}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: readonly number[]) => {
  const s = sorted(xs);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const quantile = (xs: readonly number[], q: number) => {
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const round = (x: number, digits: number) => Number(x.toFixed(digits));
const log = (line: string) => process.stderr.write(`${line}\n`);

registerProviderType('bench-zero', { create: () => zero });
/** Folders of the SQLite files of `ours_defaults`, removed at the end. */
const dataDirs: string[] = [];
const stoppers: Array<() => Promise<void>> = [];

/** Builds one contender's councils. */
async function build(name: Contender): Promise<FrameworkCouncils> {
  if (name === 'ours' || name === 'ours_defaults') {
    let storage: Pick<HarnessOptions, 'memory' | 'journal'> = { memory: 'memory://', journal: false };
    if (name === 'ours_defaults') {
      const dir = mkdtempSync(join(tmpdir(), 'forge-bench-councils-'));
      dataDirs.push(dir);
      storage = {
        memory: `sqlite://${join(dir, 'memory.db')}`,
        journal: `sqlite://${join(dir, 'journal.db')}`,
      };
    }
    const { councils, harness } = ourCouncils(storage);
    stoppers.push(() => harness.stop());
    return councils;
  }
  return (await loadFramework(`${name}.ts`))(setup);
}

async function cleanUp(): Promise<void> {
  for (const stop of stoppers) await stop();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
}

/**
 * A full GC that also lets finalizers run: with a zero-latency model, runs chain on microtasks
 * and never yield to the event loop, so FinalizationRegistry callbacks (which Node's
 * `AbortSignal.any` relies on to drop its bookkeeping) would never get their turn.
 */
async function fullCollection(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc();
    await nextTurn();
  }
  gc();
}

/** Resolves on the next event-loop turn (after pending timers, I/O and finalizers). */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * What one run of `council` leaves on the heap, in bytes: after a settling batch (caches,
 * compiled code, one-off growth), the heap is read after a full GC every tenth of a second batch;
 * the figure is the least-squares slope of heap over runs, which a single noisy reading (±0.3 MiB)
 * cannot swing much.
 */
async function retainedPerRun(council: (text: string) => Promise<string>): Promise<number> {
  const batch = async (n: number) => {
    for (let i = 0; i < n; i++) {
      await nextTurn();
      await council(input);
    }
  };
  await batch(memoryRuns);
  const points: Array<[runs: number, heap: number]> = [];
  const step = Math.max(1, Math.round(memoryRuns / 10));
  for (let done = 0; ; done += step) {
    await fullCollection();
    points.push([done, process.memoryUsage().heapUsed]);
    if (done >= memoryRuns) break;
    await batch(step);
  }
  const meanX = points.reduce((a, [x]) => a + x, 0) / points.length;
  const meanY = points.reduce((a, [, y]) => a + y, 0) / points.length;
  const sxy = points.reduce((a, [x, y]) => a + (x - meanX) * (y - meanY), 0);
  const sxx = points.reduce((a, [x]) => a + (x - meanX) ** 2, 0);
  return sxy / sxx;
}

/** The env variable that makes this script a memory child: `contender:shape`. */
const memoryChildEnv = 'BENCH_COUNCILS_MEMORY_OF';

/**
 * Memory is measured in a child process per contender and shape, with nothing else loaded: in
 * one process, another framework's timers (Mastra's TTL caches, say) free memory during the
 * measured batch and make the figures meaningless (even negative).
 */
function retainedInChild(name: Contender, shape: Shape): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...process.execArgv, '--no-flush-bytecode', fileURLToPath(import.meta.url)],
      {
        env: { ...process.env, [memoryChildEnv]: `${name}:${shape}` },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0) return reject(new Error(`memory child ${name} ${shape} exited with ${code}: ${last}`));
      resolve((JSON.parse(last) as { bytesPerRun: number }).bytesPerRun);
    });
  });
}

/** Runs `council` a few times: it must answer, showing the model exactly the expected inputs. */
async function checkEquivalent(name: Contender, council: (text: string) => Promise<string>, shape: Shape) {
  const expected = expectedInputs(shape).sort();
  for (let i = 0; i < 3; i++) {
    const got: string[] = [];
    seen = got;
    let output: string;
    try {
      output = await council(input);
    } finally {
      seen = undefined;
    }
    got.sort();
    if (output !== answer)
      throw new Error(`${name} ${shape} answered ${JSON.stringify(output)}, not "${answer}"`);
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      throw new Error(
        `${name} ${shape} is not the same council: the model saw ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`,
      );
    }
  }
}

interface ShapeFigures {
  ms: Record<Contender, number>;
  p90Ms: Record<Contender, number>;
  bytesPerRun: Record<Contender, number>;
}

async function measure(
  frameworks: Record<Contender, FrameworkCouncils>,
  shape: Shape,
): Promise<ShapeFigures> {
  for (const name of contenders) await checkEquivalent(name, frameworks[name][shape], shape);
  log(
    `${shape}: every framework answers, the model sees the same ${expectedInputs(shape).length} inputs per run`,
  );

  for (const name of contenders) {
    for (let i = 0; i < warmup; i++) {
      await nextTurn();
      await frameworks[name][shape](input);
    }
  }

  const samples = Object.fromEntries(contenders.map((name) => [name, [] as number[]])) as Record<
    Contender,
    number[]
  >;
  const perRound = Math.max(1, Math.ceil(runs / rounds));
  for (let r = 0; r < rounds; r++) {
    const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]!);
    const line: string[] = [];
    for (const name of order) {
      const council = frameworks[name][shape];
      const xs = samples[name];
      const start = xs.length;
      for (let i = 0; i < perRound; i++) {
        // Each run starts on a fresh event-loop turn, as it would in a server (untimed).
        await nextTurn();
        const t0 = process.hrtime.bigint();
        await council(input);
        xs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      line.push(`${name} ${median(xs.slice(start)).toFixed(3)} ms`);
    }
    log(`${shape} round ${r + 1}/${rounds}: ${line.join(', ')}`);
  }

  const bytesPerRun = {} as Record<Contender, number>;
  for (const name of contenders) {
    bytesPerRun[name] = await retainedInChild(name, shape);
    log(`${shape} memory: ${name} ${(bytesPerRun[name] / 1024).toFixed(2)} KiB retained per run`);
  }

  const ms = {} as Record<Contender, number>;
  const p90Ms = {} as Record<Contender, number>;
  for (const name of contenders) {
    ms[name] = median(samples[name]);
    p90Ms[name] = quantile(samples[name], 0.9);
  }
  return { ms, p90Ms, bytesPerRun };
}

async function main(): Promise<void> {
  const frameworks = {} as Record<Contender, FrameworkCouncils>;
  // The other frameworks first: when they are not installed, the bench stops before it creates anything.
  for (const name of ['langgraph', 'mastra', 'ours', 'ours_defaults'] as const)
    frameworks[name] = await build(name);
  const perShape: Partial<Record<Shape, Record<string, number>>> = {};
  for (const shape of shapes) {
    const f = await measure(frameworks, shape);
    perShape[shape] = {
      ours_ms: round(f.ms.ours, 3),
      langgraph_ms: round(f.ms.langgraph, 3),
      mastra_ms: round(f.ms.mastra, 3),
      ratio_vs_langgraph: round(f.ms.ours / f.ms.langgraph, 3),
      ratio_vs_mastra: round(f.ms.ours / f.ms.mastra, 3),
      ours_defaults_ms: round(f.ms.ours_defaults, 3),
      ratio_defaults_vs_langgraph: round(f.ms.ours_defaults / f.ms.langgraph, 3),
      ratio_defaults_vs_mastra: round(f.ms.ours_defaults / f.ms.mastra, 3),
      ours_p90_ms: round(f.p90Ms.ours, 3),
      ours_defaults_p90_ms: round(f.p90Ms.ours_defaults, 3),
      langgraph_p90_ms: round(f.p90Ms.langgraph, 3),
      mastra_p90_ms: round(f.p90Ms.mastra, 3),
      ours_kib_per_run: round(f.bytesPerRun.ours / 1024, 2),
      ours_defaults_kib_per_run: round(f.bytesPerRun.ours_defaults / 1024, 2),
      langgraph_kib_per_run: round(f.bytesPerRun.langgraph / 1024, 2),
      mastra_kib_per_run: round(f.bytesPerRun.mastra / 1024, 2),
      model_calls_per_run: expectedInputs(shape).length,
    };
  }

  // The headline ratios are the worse of the shapes measured.
  const worst = (field: string) => Math.max(...shapes.map((s) => perShape[s]![field]!));
  const result = {
    bench: 'councils',
    ratio_vs_langgraph: worst('ratio_vs_langgraph'),
    ratio_vs_mastra: worst('ratio_vs_mastra'),
    goal,
    ...perShape,
    runs: rounds * Math.max(1, Math.ceil(runs / rounds)),
    rounds,
    warmup,
    memory_runs: memoryRuns,
    versions: {
      ai: packageVersion('../node_modules', 'ai'),
      '@langchain/langgraph': packageVersion('./frameworks/node_modules', '@langchain/langgraph'),
      '@langchain/core': packageVersion('./frameworks/node_modules', '@langchain/core'),
      '@mastra/core': packageVersion('./frameworks/node_modules', '@mastra/core'),
    },
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    nproc: cpus().length,
  };
  console.log(JSON.stringify(result));
}

/** A memory child: one contender, one shape, one figure (as the last stdout line). */
async function memoryChild(spec: string): Promise<void> {
  const [name, shape] = spec.split(':') as [Contender, Shape];
  if (!contenders.includes(name) || !allShapes.includes(shape)) throw new Error(`${memoryChildEnv}=${spec}?`);
  const council = (await build(name))[shape];
  await checkEquivalent(name, council, shape);
  console.log(JSON.stringify({ bytesPerRun: await retainedPerRun(council) }));
}

const childSpec = process.env[memoryChildEnv];
try {
  await (childSpec === undefined ? main() : memoryChild(childSpec));
} finally {
  await cleanUp();
}
