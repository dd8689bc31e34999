// The SDK in 30 lines (product spec §6.2): a council of two agents with skills and memory,
// on keyless simulated models. Run: npm run forge -- (or) node --conditions=forge-source examples/quickstart.ts
import { Agent, Council, Harness, Memory, Skill } from 'forge-harness';
import { z } from 'zod';

const lookupOrder = new Skill({
  name: 'LookupOrder',
  description: 'Looks up the status of an order by its id.',
  input: z.object({ text: z.string().describe('The customer message that mentions the order') }),
  run: ({ text }) => ({ orderId: /\d{4,}/.exec(text)?.[0] ?? 'unknown', status: 'shipped', eta: '2 days' }),
});

const harness = new Harness({
  models: [
    { id: 'fast', type: 'simulated', contextWindow: 32_000 },
    { id: 'smart', type: 'simulated', contextWindow: 128_000, pricePerMtok: { input: 2.5, output: 10 } },
  ],
  councils: [
    new Council({
      name: 'Support',
      memory: new Memory({ url: process.env.FORGE_MEMORY_URL ?? 'memory://' }),
      agents: [
        new Agent({ name: 'Triage', model: 'fast', instructions: 'Classify the request.', skills: ['NLU'] }),
        new Agent({
          name: 'Tracker',
          model: 'smart',
          instructions: 'Report order status.',
          skills: [lookupOrder],
        }),
      ],
    }),
  ],
});

const result = await harness.run('Support', 'Where is my order 88123?', {
  onEvent: (e) => e.type === 'tool-call-finish' && console.log(`tool ${e.tool} →`, JSON.stringify(e.output)),
});
console.log(`${result.status}: ${result.output}`);
console.log(
  `tokens: ${result.usage.inputTokens + result.usage.outputTokens}, model calls: ${result.usage.modelCalls}`,
);
await harness.stop();
