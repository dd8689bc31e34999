/**
 * The zod schemas of a forge config file (`councils.yaml`): a model registry under
 * `models:` and councils under `councils:`. YAML keys are snake_case; {@link toHarnessConfig}
 * in `load.ts` maps the parsed file to the camelCase TypeScript shapes below.
 */
import { z } from 'zod';

/** A credential reference: `env:NAME`, `file:/path`, or (discouraged) a literal value. */
export const credentialRefSchema = z
  .string()
  .min(1)
  .describe(
    'A secret reference: env:VAR_NAME or file:/run/secrets/name (a literal key also works, but never commit one).',
  );

/** Capabilities a model declares; the router and validators use them. */
export const capabilitySchema = z.enum(['tools', 'vision', 'json', 'streaming', 'embeddings']);

/** A scripted rule of the simulated provider: the first rule whose `when` matches answers. */
export const simulatedRuleSchema = z.strictObject({
  when: z
    .string()
    .min(1)
    .describe('A JavaScript regular expression (case-insensitive) tested against the last user message.'),
  reply: z
    .string()
    .describe('The reply. {{input}} is replaced with the last user message, {{agent}} with the system name.'),
});

export const modelTypeSchema = z.enum([
  'openai',
  'anthropic',
  'google',
  'openai-compatible',
  'local',
  'simulated',
]);

/** Client-side limits of one model, enforced by the scheduler's call limiter. */
export const rateLimitsSchema = z.strictObject({
  rpm: z.number().positive().optional().describe('Requests per minute.'),
  tpm: z.number().positive().optional().describe('Tokens per minute, prompt plus output.'),
  max_concurrency: z
    .int()
    .positive()
    .optional()
    .describe('Calls in flight at most; adaptive concurrency backs off below it on 429s (default 64).'),
});

/** `timeouts:` of a model entry (or of `gateway:`), ms; a timeout left out does not apply. */
export const timeoutsSchema = z.strictObject({
  connect_ms: z.int().positive().optional().describe('Until the response headers arrive.'),
  first_token_ms: z
    .int()
    .positive()
    .optional()
    .describe('Until the first output of a stream, counted from the start of the attempt.'),
  between_tokens_ms: z
    .int()
    .positive()
    .optional()
    .describe('Longest gap between two parts of a stream once output has begun (a stall).'),
  total_ms: z.int().positive().optional().describe('The whole attempt, start to end of the answer.'),
});

/** `breaker:` of a model entry (or of `gateway:`): when its circuit breaker opens and for how long. */
export const breakerSchema = z.strictObject({
  enabled: z.boolean().optional().describe('false: this breaker never opens (default true).'),
  consecutive_failures: z
    .int()
    .nonnegative()
    .optional()
    .describe(
      'Failures in a row (5xx, overload, timeout, network, 429, slow) that open it (default 5; 0 = off).',
    ),
  error_rate: z
    .number()
    .min(0)
    .lt(1)
    .optional()
    .describe('Share of failed calls within sample_ms that opens it (default 0.5; 0 = off).'),
  min_calls: z
    .int()
    .positive()
    .optional()
    .describe('Calls within sample_ms before the error rate counts (default 20).'),
  sample_ms: z.int().min(100).optional().describe('Length of the error-rate window (default 10000).'),
  half_open_after_ms: z
    .int()
    .nonnegative()
    .optional()
    .describe('How long it stays open before one probe call may go (default 5000).'),
});

/** `hedge:` of a model entry (or of `gateway:`): also ask the next model of the chain when this one is slow to start. */
export const hedgeSchema = z
  .strictObject({
    after_ms: z
      .int()
      .nonnegative()
      .optional()
      .describe('Hedge after this many ms without a first token (with after: p95: until the p95 is known).'),
    after: z
      .literal('p95')
      .optional()
      .describe("p95: after this model's 95th percentile time to first token over its recent calls."),
    max: z.int().positive().optional().describe('Hedged attempts one call may add (default 1).'),
  })
  .refine((hedge) => hedge.after_ms !== undefined || hedge.after !== undefined, {
    message: 'a hedge needs after_ms or after: p95',
  });

/** The top-level `gateway:` map: defaults of every provider model entry (an entry's own keys win). */
export const gatewaySchema = z.strictObject({
  timeouts: timeoutsSchema.optional().describe('Timeouts of every model that sets none of its own.'),
  breaker: breakerSchema.optional().describe('Circuit breaker options of every model.'),
  hedge: hedgeSchema.optional().describe('Hedging for every model that sets none of its own.'),
});

/** `ensemble:` of a `type: ensemble` model: the members and how they vote (docs/models.md#ensembles). */
export const ensembleSchema = z.strictObject({
  members: z
    .array(z.string().min(1))
    .min(2, 'an ensemble needs at least two members')
    .describe('Model ids asked at once (each answers the same call).'),
  vote: z
    .enum(['exact', 'normalized', 'semantic', 'judge'])
    .optional()
    .describe(
      'exact = identical answers; normalized = equal up to case, spaces and punctuation (default); semantic = embeddings at least `similarity` alike; judge = the judge model picks.',
    ),
  quorum: z
    .number()
    .positive()
    .optional()
    .describe(
      'Weighted votes that must agree: the call finishes as soon as one answer has them (the other members are aborted) and fails with no_quorum when none can. Default: every member answers.',
    ),
  weights: z
    .record(z.string().min(1), z.number().positive())
    .optional()
    .describe('Vote weight per member id (default 1).'),
  judge: z.string().min(1).optional().describe('vote judge: the model id that picks the best answer.'),
  embedding_model: z
    .string()
    .min(1)
    .optional()
    .describe('vote semantic: the model id whose embeddings compare answers.'),
  similarity: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .describe('vote semantic: cosine similarity from which two answers agree (default 0.9).'),
});

/** `canary:` of a `type: canary` model: the two models and the test (docs/self-healing.md#model-canaries). */
export const canarySchema = z
  .strictObject({
    stable: z.string().min(1).describe('The model id in service.'),
    candidate: z.string().min(1).describe('The model id on trial.'),
    share: z
      .number()
      .gt(0)
      .max(1)
      .optional()
      .describe('Share of calls the candidate gets while the canary runs, (0, 1] (default 0.1).'),
    state: z
      .string()
      .refine((url) => /^sqlite:\/\/./.test(url), 'state must be "sqlite://path"')
      .meta({ pattern: '^sqlite://.' })
      .optional()
      .describe(
        'Where promotions and rollbacks are kept: "sqlite://path" (relative to this file; default $FORGE_CANARY_URL, else sqlite://.forge/canary.db).',
      ),
    alpha: z
      .number()
      .gt(0)
      .lt(1)
      .optional()
      .describe('Chance of rolling back a candidate that is not worse (default 0.05).'),
    beta: z
      .number()
      .gt(0)
      .lt(1)
      .optional()
      .describe('Chance of promoting a candidate worse by a margin or more (default 0.1).'),
    min_samples: z
      .int()
      .positive()
      .optional()
      .describe('Calls each model needs before a decision (default 20).'),
    max_samples: z
      .int()
      .positive()
      .optional()
      .describe('Candidate calls after which the canary is decided on the estimates (default 10000).'),
    error_margin: z
      .number()
      .gt(0)
      .lt(1)
      .optional()
      .describe('Rise in error rate the candidate must stay below to be promoted, absolute (default 0.05).'),
    latency_margin: z
      .number()
      .positive()
      .optional()
      .describe('Slow-down the candidate must stay below to be promoted, relative (default 0.25 = 25%).'),
    score_margin: z
      .number()
      .gt(0)
      .lt(1)
      .optional()
      .describe('Drop in mean score the candidate must stay below to be promoted, on 0..1 (default 0.1).'),
  })
  .superRefine((canary, ctx) => {
    if (canary.alpha !== undefined && canary.beta !== undefined && canary.alpha + canary.beta >= 1) {
      ctx.addIssue({ code: 'custom', path: ['beta'], message: 'alpha + beta must be below 1' });
    }
    if (
      canary.min_samples !== undefined &&
      canary.max_samples !== undefined &&
      canary.max_samples < canary.min_samples
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['max_samples'],
        message: 'max_samples must be at least min_samples',
      });
    }
  });

/** Keys that configure a provider, meaningless on an ensemble (its members have their own). */
const providerKeys = ['model', 'api', 'api_key', 'api_keys', 'endpoint', 'headers', 'dimensions'] as const;

export const modelEntrySchema = z
  .strictObject({
    id: z.string().min(1).describe('The id councils use to name this model.'),
    type: z
      .enum([...modelTypeSchema.options, 'ensemble', 'canary'])
      .describe(
        'Which provider speaks to it; or ensemble: several models that vote; or canary: a stable and a candidate model that share its calls.',
      ),
    model: z.string().min(1).optional().describe("The provider's own model name; defaults to id."),
    api: z
      .enum(['chat', 'responses'])
      .optional()
      .describe('OpenAI only: chat completions or the responses API (default responses).'),
    api_key: z
      .union([credentialRefSchema, z.array(credentialRefSchema).min(1)])
      .optional()
      .describe('A secret reference (env:, file:, cmd:), or a list of them: a key pool used in order.'),
    api_keys: z
      .array(credentialRefSchema)
      .min(1)
      .optional()
      .describe(
        'A key pool: secret references used in order; a key the provider keeps refusing (401/403) is skipped for the next.',
      ),
    // Without the protocol rule `localhost:11434` passes as a URL whose scheme is "localhost:".
    endpoint: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe('Base URL of the API (Ollama: http://localhost:11434/v1).'),
    path: z.string().min(1).optional().describe('type local only: a GGUF file for embedded inference.'),
    headers: z.record(z.string(), z.string()).optional(),
    context_window: z.int().positive().optional().describe('Tokens the model accepts, prompt plus output.'),
    max_output_tokens: z.int().positive().optional(),
    price_per_mtok: z
      .strictObject({ input: z.number().nonnegative(), output: z.number().nonnegative() })
      .optional()
      .describe('USD per million tokens.'),
    capabilities: z.array(capabilitySchema).optional(),
    latency_threshold_ms: z.int().positive().optional().describe('Calls slower than this count as slow.'),
    dimensions: z
      .int()
      .positive()
      .max(65536)
      .optional()
      .describe('Embedding models: vector length (simulated default 256).'),
    latency_ms: z.int().nonnegative().optional().describe('type simulated only: added latency per call.'),
    rules: z.array(simulatedRuleSchema).optional().describe('type simulated only: scripted replies.'),
    rate_limits: rateLimitsSchema
      .optional()
      .describe('Requests and tokens per minute and concurrency the scheduler keeps this model within.'),
    timeouts: timeoutsSchema
      .optional()
      .describe('Connect, first-token, between-token and total timeouts, ms.'),
    breaker: breakerSchema.optional().describe("When this model's circuit breaker opens and for how long."),
    hedge: hedgeSchema
      .optional()
      .describe('Also send a call to the next model of the chain when this one has no first token in time.'),
    ensemble: ensembleSchema
      .optional()
      .describe('type ensemble only (required there): the member models and how they vote.'),
    canary: canarySchema
      .optional()
      .describe('type canary only (required there): the stable and candidate models, the share, the test.'),
  })
  .superRefine((entry, ctx) => {
    if (entry.type === 'local' && entry.path === undefined && entry.endpoint === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpoint'],
        message:
          'a local model needs `endpoint` (an OpenAI-compatible server such as Ollama) or `path` (a GGUF file)',
      });
    }
    if (entry.type === 'openai-compatible' && entry.endpoint === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpoint'],
        message: 'an openai-compatible model needs `endpoint`',
      });
    }
    if (entry.api_key !== undefined && entry.api_keys !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['api_keys'],
        message: 'set `api_key` or `api_keys`, not both (a list under api_key is a key pool too)',
      });
    }
    if (entry.path !== undefined && entry.type !== 'local') {
      ctx.addIssue({ code: 'custom', path: ['path'], message: '`path` is only valid for type local' });
    }
    if ((entry.rules !== undefined || entry.latency_ms !== undefined) && entry.type !== 'simulated') {
      ctx.addIssue({
        code: 'custom',
        path: [entry.rules !== undefined ? 'rules' : 'latency_ms'],
        message: 'only valid for type simulated',
      });
    }
    if (entry.type === 'ensemble' && entry.ensemble === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['ensemble'],
        message: 'an ensemble model needs `ensemble: { members: [...] }`',
      });
    }
    if (entry.ensemble !== undefined && entry.type !== 'ensemble') {
      ctx.addIssue({
        code: 'custom',
        path: ['ensemble'],
        message: '`ensemble` is only valid for type ensemble',
      });
    }
    if (entry.type === 'canary' && entry.canary === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['canary'],
        message: 'a canary model needs `canary: { stable: <model id>, candidate: <model id> }`',
      });
    }
    if (entry.canary !== undefined && entry.type !== 'canary') {
      ctx.addIssue({ code: 'custom', path: ['canary'], message: '`canary` is only valid for type canary' });
    }
    if (entry.type === 'canary') {
      for (const key of providerKeys) {
        if (entry[key] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `\`${key}\` is not valid for type canary (set it on the stable and candidate models)`,
          });
        }
      }
    }
    if (entry.type === 'ensemble') {
      for (const key of providerKeys) {
        if (entry[key] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `\`${key}\` is not valid for type ensemble (set it on the member models)`,
          });
        }
      }
    }
  });

export const recursionFallbackSchema = z.enum(['ReAsk', 'Escalate', 'BestSoFar', 'Fail']);

export const recursionSchema = z.strictObject({
  max_depth: z.int().nonnegative().max(32).optional(),
  trigger_on: z.array(z.string().min(1)).optional().describe('Conditions such as "confidence < 0.6".'),
  fallback: recursionFallbackSchema.optional(),
});

export const agentSchema = z.strictObject({
  name: z.string().min(1),
  model: z.string().min(1).describe('A model id from `models:`.'),
  fallback: z.array(z.string().min(1)).optional().describe('Model ids tried in order when the model fails.'),
  instructions: z.string().optional().describe('The system prompt of this agent.'),
  skills: z.array(z.string().min(1)).optional().describe('Skill names from the skill registry.'),
  max_tokens: z.int().positive().optional(),
  temperature: z.number().min(0).max(2).optional(),
  max_steps: z.int().positive().optional().describe('Model/tool loop steps per agent turn (default 5).'),
  description: z
    .string()
    .min(1)
    .optional()
    .describe("What this agent is for, in one line (a router council's model picks agents by it)."),
  depends_on: z
    .array(z.string().min(1))
    .optional()
    .describe(
      'strategy graph: agents of this council that run first; their labelled outputs follow the input.',
    ),
  weight: z
    .number()
    .positive()
    .optional()
    .describe("strategy vote: the weight of this agent's vote (default 1)."),
  subagents: z
    .array(z.string().min(1))
    .optional()
    .describe('Agents of this council it may hand sub-tasks to (its model gets a spawn_agent tool).'),
  confidence: z
    .enum(['self_rating', 'structured'])
    .optional()
    .describe(
      'Where its confidence comes from for trigger_on: a "Confidence: 0.8" last line, or a JSON confidence field (default self_rating when a trigger reads confidence).',
    ),
  escalate_to: z
    .string()
    .min(1)
    .optional()
    .describe(
      'The stronger model id a recursion fallback Escalate hands the step to (default: the first fallback).',
    ),
});

/** `limits:` of a council: shared by a run and all its sub-agents; reaching one ends the run with limit_exceeded. */
export const limitsSchema = z.strictObject({
  tokens: z.int().positive().max(1e12).optional().describe('Input plus output tokens over all model calls.'),
  cost_usd: z.number().positive().max(1e6).optional().describe('USD over all model calls (registry prices).'),
  wall_time_ms: z
    .int()
    .positive()
    .max(30 * 24 * 3600_000)
    .optional()
    .describe('Wall time from the run start, milliseconds (at most 30 days).'),
  model_calls: z
    .int()
    .positive()
    .max(1e9)
    .optional()
    .describe('Model calls that reached a provider and answered.'),
  depth: z.int().nonnegative().max(32).optional().describe('Sub-agent levels below the council agents.'),
});

/** `vote:` of a vote council. */
export const voteSchema = z.strictObject({
  rule: z
    .enum(['majority', 'normalized', 'judge'])
    .optional()
    .describe(
      'majority = identical answers; normalized = equal up to case, spaces and punctuation; judge = the judge agent picks (default judge when judge is set, else majority).',
    ),
  quorum: z
    .number()
    .positive()
    .optional()
    .describe(
      'Weighted votes that must agree; the vote ends as soon as they do, and fails when they no longer can.',
    ),
  judge: z
    .string()
    .min(1)
    .optional()
    .describe('rule judge: the agent that picks the winning answer (it does not vote).'),
});

/** `debate:` of a debate council. */
export const debateSchema = z.strictObject({
  rounds: z.int().min(1).max(20).optional().describe('Rounds of answers, 1..20 (default 2).'),
  judge: z
    .string()
    .min(1)
    .describe('The agent that reads the debate and gives the final answer (it does not debate).'),
});

/** `router:` of a router council. */
export const routerSchema = z.strictObject({
  routes: z
    .array(
      z.strictObject({
        when: z
          .string()
          .min(1)
          .describe('A regular expression, tested case-insensitively against the run input.'),
        agent: z.string().min(1).describe('The agent that answers inputs it matches.'),
      }),
    )
    .optional()
    .describe('Rules tried in order; the first match routes.'),
  model: z
    .string()
    .min(1)
    .optional()
    .describe("A model id that picks an agent by name from the agents' descriptions when no rule matches."),
  default: z
    .string()
    .min(1)
    .optional()
    .describe('The agent used when nothing else picks one (default: the first agent).'),
});

export const councilSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  strategy: z
    .enum(['pipeline', 'parallel', 'vote', 'debate', 'router', 'graph'])
    .optional()
    .describe('How agents cooperate (default pipeline); see docs/councils.md.'),
  merge: z
    .string()
    .min(1)
    .optional()
    .describe(
      "strategy parallel: the agent that merges the other agents' outputs (default: outputs joined).",
    ),
  vote: voteSchema.optional().describe('strategy vote: how the winning answer is picked.'),
  debate: debateSchema.optional().describe('strategy debate (required there): the judge and the rounds.'),
  router: routerSchema
    .optional()
    .describe('strategy router (required there): rules, a model, a default agent.'),
  output: z
    .string()
    .min(1)
    .optional()
    .describe(
      "strategy graph: the agent whose output is the council's (default: the sink, or all sinks joined).",
    ),
  memory: z
    .string()
    .min(1)
    .optional()
    .describe('A memory URL: memory://, sqlite://path, redis://, postgres://, pglite://path, lmdb://path.'),
  embedding_model: z
    .string()
    .min(1)
    .optional()
    .describe(
      'A model id whose embeddings give the council memory semantic recall (default: lexical recall).',
    ),
  recursion_depth: z.int().nonnegative().max(32).optional(),
  recursion: recursionSchema.optional(),
  knowledge: z
    .array(
      z.union([
        z.string().min(1),
        z.strictObject({
          id: z.string().min(1).optional(),
          text: z.string().min(1),
          meta: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
        }),
      ]),
    )
    .optional()
    .describe('Documents stored in the council memory at start, for recall by the Search skill.'),
  priority: z
    .enum(['high', 'normal', 'low'])
    .optional()
    .describe('Scheduling priority of its runs (default normal; waiting runs age upwards).'),
  limits: limitsSchema.optional(),
  agents: z.array(agentSchema).min(1, 'a council needs at least one agent'),
});

export const telemetrySchema = z.strictObject({
  exporter: z.enum(['otlp', 'console', 'none']).optional(),
  endpoint: z.url({ protocol: /^https?$/ }).optional(),
  service_name: z.string().optional(),
});

/** Size and age limits of a skill's LRU result cache. */
export const skillCacheSchema = z.strictObject({
  size: z.int().positive().optional().describe('Most results kept (default 500).'),
  ttl_ms: z
    .int()
    .nonnegative()
    .optional()
    .describe('How long a result is served, in milliseconds (default 60000; 0 = until evicted).'),
});

/** An MCP server whose tools become skills named `<name>_<tool>`: `command` (stdio) or `url` (streamable HTTP). */
export const mcpServerSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z][\w-]{0,63}$/, 'use a letter first, then letters, digits, _ or -')
      .describe('Prefixes the skills of its tools: <name>_<tool>.'),
    command: z.string().min(1).optional().describe('stdio: the program to start, e.g. node or npx.'),
    args: z.array(z.string()).optional().describe('stdio: its arguments.'),
    env: z
      .record(z.string(), z.string())
      .optional()
      .describe('stdio: environment variables for the server (on top of PATH, HOME and a few more).'),
    cwd: z
      .string()
      .min(1)
      .optional()
      .describe("stdio: working folder, relative to the config file's folder (default: that folder)."),
    url: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe('streamable HTTP: the endpoint, e.g. http://127.0.0.1:3001/mcp.'),
    headers: z
      .record(z.string(), z.string())
      .optional()
      .describe('streamable HTTP: headers sent with every request.'),
    connect_timeout_ms: z
      .int()
      .positive()
      .optional()
      .describe('How long a connect or reconnect may take, in milliseconds (default 10000).'),
    call_timeout_ms: z
      .int()
      .positive()
      .optional()
      .describe('How long one tool call may take, in milliseconds (default 60000).'),
  })
  .superRefine((server, ctx) => {
    if ((server.command === undefined) === (server.url === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [server.command === undefined ? 'command' : 'url'],
        message: 'an MCP server needs exactly one of `command` (stdio) and `url` (streamable HTTP)',
      });
    }
    if (server.url !== undefined) {
      for (const key of ['args', 'env', 'cwd'] as const) {
        if (server[key] !== undefined) {
          ctx.addIssue({ code: 'custom', path: [key], message: `\`${key}\` is only valid with \`command\`` });
        }
      }
    }
    if (server.command !== undefined && server.headers !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['headers'], message: '`headers` is only valid with `url`' });
    }
  });

/**
 * One entry of `skills:`: a SKILL.md bundle folder, an MCP server, or options (a cache) for a
 * skill registered in code, by name.
 */
export const skillConfigSchema = z
  .strictObject({
    bundle: z
      .string()
      .min(1)
      .optional()
      .describe("A folder with a SKILL.md, relative to the config file's folder."),
    mcp: mcpServerSchema.optional(),
    name: z
      .string()
      .min(1)
      .optional()
      .describe('A skill registered in code (or a built-in) that these options apply to.'),
    cache: skillCacheSchema.optional().describe("Caches the skill's successful results (LRU)."),
  })
  .superRefine((entry, ctx) => {
    const kinds = (['bundle', 'mcp', 'name'] as const).filter((key) => entry[key] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: kinds.length === 0 ? [] : [kinds[1] ?? 'name'],
        message:
          kinds.length === 0
            ? 'a skills entry needs one of `bundle`, `mcp` or `name`'
            : `a skills entry has one of \`bundle\`, \`mcp\` or \`name\`, not ${kinds.map((k) => `\`${k}\``).join(' and ')}`,
      });
    }
    if (entry.cache !== undefined && entry.name === undefined) {
      ctx.addIssue({ code: 'custom', path: ['cache'], message: '`cache` is only valid with `name`' });
    }
  });

/** Run admission and shared rate limits: the top-level `scheduler:` map. */
export const schedulerSchema = z.strictObject({
  max_concurrent_runs: z.int().positive().optional().describe('Runs executing at once (default 256).'),
  max_queued_runs: z
    .int()
    .nonnegative()
    .optional()
    .describe('Runs waiting for a slot; one more is refused as overloaded (default 10000).'),
  aging_ms: z
    .int()
    .positive()
    .optional()
    .describe("A waiting run's priority rises one level per this many milliseconds (default 5000)."),
  loop_slice_ms: z
    .number()
    .nonnegative()
    .optional()
    .describe(
      'Event-loop pacing: while work waits, each turn of the loop runs about this many milliseconds (default 5; 0 turns pacing off).',
    ),
  councils: z
    .record(z.string().min(1), z.strictObject({ max_concurrent_runs: z.int().positive().optional() }))
    .optional()
    .describe('Per council name: its own cap on concurrent runs.'),
  providers: z
    .partialRecord(
      modelTypeSchema,
      z.strictObject({
        rpm: z.number().positive().optional().describe('Requests per minute.'),
        tpm: z.number().positive().optional().describe('Tokens per minute.'),
      }),
    )
    .optional()
    .describe('Per provider type: requests and tokens per minute shared by all its models.'),
});

/**
 * The top-level `journal:` value: a `sqlite://` URL or `false`. A refinement rather than a regex
 * so the loader's error says what to write; `pattern` carries the same rule to editors.
 */
export const journalSchema = z.union([
  z.literal(false),
  z
    .string()
    .refine((url) => /^sqlite:\/\/./.test(url), 'journal must be "sqlite://path" or false')
    .meta({ pattern: '^sqlite://.' }),
]);

export const configFileSchema = z.strictObject({
  version: z.literal(1).optional(),
  models: z.array(modelEntrySchema).optional(),
  councils: z.array(councilSchema).optional(),
  telemetry: telemetrySchema.optional(),
  scheduler: schedulerSchema.optional().describe('Run admission, priorities and shared rate limits.'),
  gateway: gatewaySchema
    .optional()
    .describe("Defaults of every model entry: timeouts, circuit breaker and hedging (an entry's own win)."),
  skills: z
    .array(skillConfigSchema)
    .optional()
    .describe('SKILL.md bundles, MCP servers, and options for skills registered in code.'),
  journal: journalSchema
    .optional()
    .describe(
      'The run journal: "sqlite://path" (relative to this file; default $FORGE_JOURNAL_URL, else sqlite://.forge/journal.db) or false for none (no resume, no forge runs).',
    ),
});

export type ModelEntryYaml = z.infer<typeof modelEntrySchema>;
export type EnsembleYaml = z.infer<typeof ensembleSchema>;
export type CanaryYaml = z.infer<typeof canarySchema>;
export type AgentYaml = z.infer<typeof agentSchema>;
export type CouncilYaml = z.infer<typeof councilSchema>;
export type ConfigFileYaml = z.infer<typeof configFileSchema>;
export type SchedulerYaml = z.infer<typeof schedulerSchema>;
export type GatewayYaml = z.infer<typeof gatewaySchema>;
export type SkillConfigYaml = z.infer<typeof skillConfigSchema>;
