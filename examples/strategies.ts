// Every council strategy built in TypeScript, on keyless simulated models whose scripted rules
// make each answer the same on every run (examples/strategies.yaml is the same in YAML).
// Run: node --conditions=forge-source examples/strategies.ts
import { Agent, Council, Harness, type ModelEntry } from 'forge-harness';

/** A simulated model that answers `reply` to anything (after `latencyMs`). */
const says = (id: string, reply: string, latencyMs = 0): ModelEntry => ({
  id,
  type: 'simulated',
  rules: [{ when: '.', reply }],
  ...(latencyMs > 0 ? { latencyMs } : {}),
});

const harness = new Harness({
  memory: process.env.FORGE_MEMORY_URL ?? 'memory://',
  // Nothing here needs resuming, so no run journal is written.
  journal: false,
  models: [
    says('market', 'Demand for e-bikes grew 12% last year.'),
    says('risks', 'Battery supply is the main risk.'),
    says('editor', 'Demand is growing; secure battery supply first.'),
    says('geo-a', 'Paris.'),
    says('geo-b', 'paris'),
    says('geo-slow', 'Lyon', 5_000),
    {
      id: 'pro',
      type: 'simulated',
      rules: [
        { when: 'Debate round 2', reply: 'Tabs still: width is each reader’s choice.' },
        { when: '.', reply: 'Tabs: one keypress per level.' },
      ],
    },
    says('con', 'Spaces: code looks the same everywhere.'),
    says('judge', 'Spaces: consistent rendering outweighs keypresses.'),
    {
      id: 'triage',
      type: 'simulated',
      rules: [
        { when: 'password|log ?in', reply: 'Account' },
        { when: '.', reply: 'Not sure.' },
      ],
    },
    says('billing', 'Refunds reach your card within 5 business days.'),
    says('account', 'Reset your password from the sign-in page.'),
    says('general', 'Happy to help: tell me a bit more.'),
    says('facts', 'Fact: the bridge opened in 1932.'),
    says('style', 'Style: short, friendly sentences.'),
    says('writer', 'Opened in 1932, the bridge still carries the city.'),
  ],
  councils: [
    // parallel: both analysts at once, then the editor merges their labelled outputs.
    new Council({
      name: 'Research',
      strategy: 'parallel',
      merge: 'Editor',
      agents: [
        new Agent({ name: 'Market', model: 'market' }),
        new Agent({ name: 'Risks', model: 'risks' }),
        new Agent({ name: 'Editor', model: 'editor' }),
      ],
    }),
    // vote: two answers equal up to case and punctuation reach the quorum; the slow voter is cancelled.
    new Council({
      name: 'Capital',
      strategy: 'vote',
      vote: { rule: 'normalized', quorum: 2 },
      agents: [
        new Agent({ name: 'Atlas', model: 'geo-a' }),
        new Agent({ name: 'Baedeker', model: 'geo-b' }),
        new Agent({ name: 'Slowpoke', model: 'geo-slow' }),
      ],
    }),
    // debate: two rounds, then the judge gives the final answer.
    new Council({
      name: 'Style',
      strategy: 'debate',
      debate: { rounds: 2, judge: 'Judge' },
      agents: [
        new Agent({ name: 'Pro', model: 'pro' }),
        new Agent({ name: 'Con', model: 'con' }),
        new Agent({ name: 'Judge', model: 'judge' }),
      ],
    }),
    // router: a rule first, else the triage model picks an agent by name, else the default.
    new Council({
      name: 'Support',
      strategy: 'router',
      router: { routes: [{ when: 'refund|invoice', agent: 'Billing' }], model: 'triage', default: 'General' },
      agents: [
        new Agent({ name: 'General', model: 'general', description: 'Anything else' }),
        new Agent({ name: 'Billing', model: 'billing', description: 'Invoices, refunds and payments' }),
        new Agent({ name: 'Account', model: 'account', description: 'Passwords and sign-in' }),
      ],
    }),
    // graph: Facts and Style at once, Writer after both (its output is the council's: the sink).
    new Council({
      name: 'Article',
      strategy: 'graph',
      agents: [
        new Agent({ name: 'Facts', model: 'facts' }),
        new Agent({ name: 'Style', model: 'style' }),
        new Agent({ name: 'Writer', model: 'writer', dependsOn: ['Facts', 'Style'] }),
      ],
    }),
  ],
});

const runs: Array<[council: string, input: string]> = [
  ['Research', 'Where should we invest?'],
  ['Capital', 'Capital of France?'],
  ['Style', 'Tabs or spaces?'],
  ['Support', 'I want a refund'],
  ['Support', 'I forgot my password'],
  ['Support', 'Hello'],
  ['Article', 'Write about the bridge'],
];
for (const [name, input] of runs) {
  const result = await harness.run(name, input, {
    onEvent: (e) => e.type === 'decision' && console.log(`  ${e.kind}: ${e.chosen} (${e.reason})`),
  });
  const confidence = result.confidence === undefined ? '' : ` [confidence ${result.confidence.toFixed(2)}]`;
  console.log(`${name} (${harness.council(name).strategy}) ${result.status}: ${result.output}${confidence}`);
}
await harness.stop();
