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

export const modelEntrySchema = z
  .strictObject({
    id: z.string().min(1).describe('The id councils use to name this model.'),
    type: modelTypeSchema.describe('Which provider speaks to it.'),
    model: z.string().min(1).optional().describe("The provider's own model name; defaults to id."),
    api: z
      .enum(['chat', 'responses'])
      .optional()
      .describe('OpenAI only: chat completions or the responses API (default responses).'),
    api_key: credentialRefSchema.optional(),
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
  });

export const recursionFallbackSchema = z.enum(['ReAsk', 'Escalate', 'BestSoFar', 'Fail']);

export const recursionSchema = z.strictObject({
  max_depth: z.int().nonnegative().optional(),
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
  recursion_depth: z.int().nonnegative().optional(),
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
  agents: z.array(agentSchema).min(1, 'a council needs at least one agent'),
});

export const telemetrySchema = z.strictObject({
  exporter: z.enum(['otlp', 'console', 'none']).optional(),
  endpoint: z.url({ protocol: /^https?$/ }).optional(),
  service_name: z.string().optional(),
});

export const configFileSchema = z.strictObject({
  version: z.literal(1).optional(),
  models: z.array(modelEntrySchema).optional(),
  councils: z.array(councilSchema).optional(),
  telemetry: telemetrySchema.optional(),
});

export type ModelEntryYaml = z.infer<typeof modelEntrySchema>;
export type AgentYaml = z.infer<typeof agentSchema>;
export type CouncilYaml = z.infer<typeof councilSchema>;
export type ConfigFileYaml = z.infer<typeof configFileSchema>;
