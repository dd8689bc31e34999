// The unified prompt format (product spec §3.1): one shape for every model, converted to
// each provider's messages by the harness. Streaming and non-streaming share one path.
import { countTokens, Harness, type UnifiedPrompt } from 'forge-harness';

const prompt: UnifiedPrompt = {
  role: 'user',
  content: [
    { type: 'system', value: 'You are a support agent. Answer in one sentence.' },
    { type: 'user', value: 'I was charged twice for order #12345, can I get a refund?' },
  ],
};

const harness = new Harness({ models: [{ id: 'assistant', type: 'simulated', contextWindow: 8_000 }] });
console.log(`prompt tokens: ${countTokens(prompt)}`);

const answer = await harness.callLlm({ model: 'assistant', prompt, maxTokens: 200 });
console.log(`answer (${answer.model}): ${answer.text}`);

const stream = harness.streamLlm({ model: 'assistant', prompt, maxTokens: 200 });
let streamed = '';
for await (const delta of stream.textStream) streamed += delta;
console.log(`streamed the same answer: ${streamed === answer.text}`);

try {
  await harness.callLlm({ model: 'assistant', prompt: 'word '.repeat(20_000) });
} catch (error) {
  console.log(`too long: ${(error as { code: string }).code}`);
}
await harness.stop();
