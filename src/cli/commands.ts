/** The verbs of `forge`. Each parses its flags, calls the library, and returns an exit code. */
import { readFile, writeFile } from 'node:fs/promises';
import { configJsonSchema } from '../config/json-schema.ts';
import { type LoadedConfig, loadConfigFile } from '../config/load.ts';
import { HarnessError } from '../errors.ts';
import { credentialRef } from '../models/registry.ts';
import { builtinSkills } from '../runtime/builtin-skills.ts';
import { Harness } from '../runtime/harness.ts';
import { endpointOverrides, parse, usageError } from './args.ts';
import { demoConfigYaml, demoInputs } from './demo-config.ts';
import { exitCodeFor, exitCodes } from './exit-codes.ts';
import { explainCommand } from './explain.ts';
import { followRun } from './follow-run.ts';
import { normalise } from './journal-source.ts';
import type { CliIo } from './main.ts';
import { memoryCommand } from './memory-command.ts';
import { resumeAllRuns, resumeCommand, runsCommand } from './runs-command.ts';
import { superviseCommand, workerCommand } from './supervise-command.ts';

export interface Command {
  help: string;
  run(args: string[], io: CliIo, signal: AbortSignal): Promise<number>;
}

function requireFile(verb: string, file: string | undefined): string {
  if (!file)
    throw new HarnessError('cli_usage', `forge ${verb}: missing <file>`, {
      hint: `usage: forge ${verb} <file>`,
    });
  return file;
}

async function readInput(value: string | undefined, io: CliIo): Promise<string> {
  if (value === undefined) {
    throw new HarnessError('cli_usage', 'forge run: missing --input', {
      hint: 'pass --input "text" or --input @file.txt',
    });
  }
  if (!value.startsWith('@')) return value;
  const path = value.slice(1);
  try {
    return await readFile(path.startsWith('/') ? path : `${io.cwd}/${path}`, 'utf8');
  } catch {
    throw new HarnessError('cli_usage', `--input @${path}: the file cannot be read`, {
      hint: 'check the path after @',
    });
  }
}

function runCouncil(
  harness: Harness,
  council: string,
  input: string,
  json: boolean,
  io: CliIo,
  signal: AbortSignal,
): Promise<number> {
  return followRun((onEvent) => harness.run(council, input, { signal, onEvent }), json, io);
}

const demo: Command = {
  help: `forge demo [--input TEXT] [--json]

Runs the CustomerSupport council on keyless simulated models with SQLite memory
(.forge/demo.db, or $FORGE_DEMO_MEMORY). Without --input it sends two sample requests.

  --input TEXT   one request of your own
  --json         JSON lines of events instead of the live view
`,
  async run(args, io, signal) {
    const { values } = parse('demo', args, { input: { type: 'string' }, json: { type: 'boolean' } }, 0);
    const harness = Harness.fromYaml(demoConfigYaml, { file: '<demo>', env: io.env });
    try {
      await harness.start();
      const inputs = values.input === undefined ? demoInputs : [String(values.input)];
      for (const input of inputs) {
        const code = await runCouncil(harness, 'CustomerSupport', input, Boolean(values.json), io, signal);
        if (code !== exitCodes.ok) return code;
        if (!values.json) io.stdout('\n');
      }
      return exitCodes.ok;
    } finally {
      await harness.stop();
    }
  },
};

const run: Command = {
  help: `forge run <file> --council NAME --input TEXT|@file [options]
forge run --resume <file> [--journal URL] [--json]

Runs a council from a config file and streams its events. With --resume it instead
resumes every interrupted run in the run journal (a line per run, then a summary).

  --council NAME              the council to run (default: the only one in the file)
  --input TEXT | @path        the request, inline or read from a file
  --config FILE               the config file, instead of <file>
  --resume                    resume every interrupted run (exit 0 when all succeed)
  --journal URL               the run journal (default: journal: of the file, else
                              $FORGE_JOURNAL_URL, else sqlite://.forge/journal.db)
  --json                      JSON lines: one per event, then one {"type":"result"} line
                              (with --resume: one result line per run, then a summary)
  --memory URL                default memory for councils that name none
  --model-endpoint ID=URL     send model ID to another base URL (repeatable)
  --debug                     print stack traces on errors
`,
  async run(args, io, signal) {
    const { values, positionals } = parse(
      'run',
      args,
      {
        council: { type: 'string' },
        input: { type: 'string' },
        config: { type: 'string' },
        resume: { type: 'boolean' },
        journal: { type: 'string' },
        json: { type: 'boolean' },
        memory: { type: 'string' },
        'model-endpoint': { type: 'string', multiple: true },
      },
      1,
    );
    if (positionals[0] !== undefined && values.config !== undefined && positionals[0] !== values.config) {
      throw usageError('run', `two config files: ${positionals[0]} and --config ${String(values.config)}`);
    }
    const file = requireFile('run', positionals[0] ?? (values.config as string | undefined));
    if (values.resume) {
      for (const flag of ['input', 'council'] as const) {
        if (values[flag] !== undefined) {
          throw usageError(
            'run',
            `--resume takes no --${flag}`,
            'each run resumes with its own council and input; use forge resume <runId> for one run',
          );
        }
      }
      return resumeAllRuns(file, values, io, signal);
    }
    const input = await readInput(values.input as string | undefined, io);
    const journal =
      values.journal === undefined ? undefined : normalise(String(values.journal), io.cwd, '--journal');
    const harness = await Harness.fromFile(file, {
      env: io.env,
      modelOverrides: endpointOverrides(values['model-endpoint'] as string[] | undefined),
      ...(values.memory === undefined ? {} : { memory: String(values.memory) }),
      ...(journal === undefined ? {} : { journal: journal.url }),
    });
    try {
      const names = harness.councilNames();
      let council = values.council as string | undefined;
      if (council === undefined) {
        if (names.length !== 1) {
          throw new HarnessError(
            'cli_usage',
            `forge run: ${file} has ${names.length} councils; pick one with --council`,
            {
              hint: names.length ? `councils: ${names.join(', ')}` : 'define one under `councils:`',
            },
          );
        }
        council = names[0] as string;
      }
      harness.council(council);
      return await runCouncil(harness, council, input, Boolean(values.json), io, signal);
    } finally {
      await harness.stop();
    }
  },
};

const validate: Command = {
  help: `forge validate <file> [--json]

Checks a config file: YAML syntax, every key and value, model ids, skill names.
Prints "ok" and a summary, or one located error with a hint. Keys are not needed.
`,
  async run(args, io) {
    const { values, positionals } = parse('validate', args, { json: { type: 'boolean' } }, 1);
    const file = requireFile('validate', positionals[0]);
    let config: LoadedConfig;
    try {
      config = await loadConfigFile(file, { env: io.env, knownSkills: builtinSkills().map((s) => s.name) });
    } catch (error) {
      if (!values.json || !HarnessError.isInstance(error)) throw error;
      // With --json the verdict is always one JSON line on stdout; the exit code still says it failed.
      io.stdout(`${JSON.stringify({ ok: false, file, error: error.toJSON() })}\n`);
      return exitCodeFor(error.code);
    }
    const summary = {
      file,
      models: config.models.length,
      councils: config.councils.map((c) => ({
        name: c.name,
        strategy: c.strategy ?? 'pipeline',
        agents: c.agents.map((a) => a.name),
      })),
      credentials: credentialStatus(config, io.env),
    };
    if (values.json) {
      io.stdout(`${JSON.stringify({ ok: true, ...summary })}\n`);
    } else {
      io.stdout(`ok: ${file}: ${summary.models} models, ${summary.councils.length} councils\n`);
      for (const c of summary.councils) {
        // Only a pipeline is a sequence; other strategies list their agents.
        const agents =
          c.strategy === 'pipeline' ? c.agents.join(' → ') : `${c.strategy}: ${c.agents.join(', ')}`;
        io.stdout(`  council ${c.name}: ${agents}\n`);
      }
      for (const m of summary.credentials.filter((s) => s.status !== 'ok' && s.status !== 'none')) {
        io.stdout(`  note: model ${m.id} needs ${m.ref} (${m.status}) before it can run\n`);
      }
    }
    return exitCodes.ok;
  },
};

function credentialStatus(config: LoadedConfig, env: Record<string, string | undefined>) {
  return config.models.map((m) => {
    const ref = credentialRef(m);
    if (ref === undefined) return { id: m.id, ref: 'none', status: 'none' };
    if (ref.startsWith('env:')) return { id: m.id, ref, status: env[ref.slice(4)] ? 'ok' : 'missing' };
    if (ref.startsWith('file:')) return { id: m.id, ref, status: 'file' };
    return { id: m.id, ref: 'literal', status: 'ok' };
  });
}

const models: Command = {
  help: `forge models <file> [--json]

Lists the model registry of a config file: type, provider model, endpoint, context
window, prices, capabilities, and whether its key reference resolves (never the key).
`,
  async run(args, io) {
    const { values, positionals } = parse('models', args, { json: { type: 'boolean' } }, 1);
    const file = requireFile('models', positionals[0]);
    const config = await loadConfigFile(file, {
      env: io.env,
      knownSkills: builtinSkills().map((s) => s.name),
    });
    const keys = new Map(credentialStatus(config, io.env).map((s) => [s.id, s]));
    const rows = config.models.map((m) => ({
      id: m.id,
      type: m.type,
      model: m.model ?? m.id,
      endpoint: m.endpoint ?? (m.path ? `file:${m.path}` : 'default'),
      contextWindow: m.contextWindow ?? null,
      pricePerMtok: m.pricePerMtok ?? null,
      capabilities: m.capabilities ?? [],
      key: keys.get(m.id)?.ref ?? 'none',
      keyStatus: keys.get(m.id)?.status ?? 'none',
    }));
    if (values.json) {
      io.stdout(`${JSON.stringify(rows)}\n`);
      return exitCodes.ok;
    }
    const table = [
      ['ID', 'TYPE', 'MODEL', 'ENDPOINT', 'CONTEXT', '$/MTOK IN/OUT', 'CAPABILITIES', 'KEY'],
      ...rows.map((r) => [
        r.id,
        r.type,
        r.model,
        r.endpoint,
        r.contextWindow === null ? '-' : String(r.contextWindow),
        r.pricePerMtok ? `${r.pricePerMtok.input}/${r.pricePerMtok.output}` : '-',
        r.capabilities.join(',') || '-',
        r.key === 'none' ? '-' : `${r.key} (${r.keyStatus})`,
      ]),
    ];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
    for (const row of table)
      io.stdout(
        `${row
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join('  ')
          .trimEnd()}\n`,
      );
    return exitCodes.ok;
  },
};

const fakeProvider: Command = {
  help: `forge fake-provider [--port N] [--host H]

Starts a local server that speaks the OpenAI (chat, responses, embeddings), Anthropic and
Google wire formats, for testing councils against faults without keys. Point a model's
endpoint at the printed base URL. Control API: POST /_control/faults, POST /_control/replies,
GET /_control/counters, GET /_control/requests, POST /_control/reset. Ctrl-C stops it.

  --port N   port to listen on (default 8787; 0 picks a free one)
  --host H   address to bind (default 127.0.0.1)
`,
  async run(args, io, signal) {
    const { values } = parse(
      'fake-provider',
      args,
      { port: { type: 'string' }, host: { type: 'string' } },
      0,
    );
    const port = Number(values.port ?? 8787);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new HarnessError('cli_usage', `--port "${String(values.port)}" is not a port number`, {
        hint: 'use a whole number 0..65535',
      });
    }
    // Loaded on demand: the other verbs never pay for the fake server's code.
    const { runFakeProviderServer } = await import('../testing/index.ts');
    const server = await runFakeProviderServer({
      port,
      ...(values.host === undefined ? {} : { host: String(values.host) }),
      log: (line: string) => io.stdout(`${line}\n`),
    });
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await server.close();
    return exitCodes.ok;
  },
};

const schema: Command = {
  help: `forge schema [--out FILE]

Prints the JSON Schema of config files (for editor autocompletion), or writes it to FILE.
In VS Code with the YAML extension: # yaml-language-server: $schema=./forge-config.schema.json
`,
  async run(args, io) {
    const { values } = parse('schema', args, { out: { type: 'string' } }, 0);
    const text = `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
    if (values.out === undefined) io.stdout(text);
    else {
      const { mkdir } = await import('node:fs/promises');
      const { dirname } = await import('node:path');
      await mkdir(dirname(String(values.out)), { recursive: true });
      await writeFile(String(values.out), text);
      io.stdout(`wrote ${String(values.out)}\n`);
    }
    return exitCodes.ok;
  },
};

export const commands: Record<string, Command> = {
  demo,
  run,
  validate,
  models,
  'fake-provider': fakeProvider,
  schema,
  memory: memoryCommand,
  runs: runsCommand,
  resume: resumeCommand,
  explain: explainCommand,
  supervise: superviseCommand,
  worker: workerCommand,
};

export function usage(): string {
  return `forge — run councils of agents on any model

Usage: forge <command> [options]   (forge <command> --help for details)

Commands:
  demo             run the CustomerSupport council on keyless simulated models
  run <file>       run a council from a config file, streaming its events
  validate <file>  check a config file and report the first problem, located
  models <file>    list the model registry of a config file
  fake-provider    start a local fake OpenAI/Anthropic/Google server with fault injection
  schema           print the JSON Schema of config files
  memory           inspect, export or import a memory namespace (JSON lines, any backend)
  runs             list the runs in the run journal (interrupted ones can be resumed)
  resume <runId>   resume an interrupted run from the journal (forge run --resume: all of them)
  explain <runId>  the decision path of a run from its journal, as a tree
  supervise        run worker processes, restart crashed ones; their runs resume from the journal
  worker           one worker process: resumes interrupted runs, then runs jobs from stdin

Global: --debug (stack traces), --version, --help
Exit codes: 0 ok · 1 run failed · 2 usage · 3 config · 4 credential · 5 provider · 6 input · 130 interrupted
`;
}
