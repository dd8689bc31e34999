// Skills that call models, a recursion policy and a telemetry exporter (product spec §6.4).
// RecursionPolicy and OpenTelemetryExporter are typed, validated config objects here; the
// orchestration and telemetry layers give them behaviour.
import { Agent, Council, Harness, OpenTelemetryExporter, RecursionPolicy, Skill } from 'forge-harness';
import { z } from 'zod';

/** A skill that asks the agent's model for a one-line summary. */
class Summarize extends Skill<{ text: string }, { summary: string }> {
  constructor() {
    super({
      name: 'Summarize',
      description: 'Summarises a text in one sentence.',
      input: z.object({ text: z.string() }),
    });
  }

  override async run(input: { text: string }, context: Parameters<Skill['run']>[1]) {
    const reply = await context.callLlm({ prompt: `Summarise: ${input.text}`, maxTokens: 60 });
    return { summary: reply.text };
  }
}

const harness = new Harness({
  models: [
    { id: 'writer', type: 'simulated', rules: [{ when: 'summarise', reply: 'A customer wants a refund.' }] },
  ],
  memory: 'memory://',
  telemetry: new OpenTelemetryExporter({
    endpoint: 'http://localhost:4318/v1/traces',
    serviceName: 'support',
  }),
  councils: [
    new Council({
      name: 'Digest',
      recursion: new RecursionPolicy({ maxDepth: 3, triggerOn: ['confidence < 0.6'], fallback: 'BestSoFar' }),
      agents: [new Agent({ name: 'Summarizer', model: 'writer', skills: [new Summarize()] })],
    }),
  ],
});

const result = await harness.run('Digest', 'I want my money back for order 1234, the box arrived broken.');
const toolEvents = result.status === 'succeeded' ? 'ok' : result.error?.message;
console.log(`run: ${toolEvents}`);
console.log(`output: ${result.output}`);
console.log(`policy: ${JSON.stringify(harness.council('Digest').recursion)}`);
console.log(`telemetry: ${JSON.stringify(harness.telemetry)}`);
await harness.stop();
