// The model registry (product spec §3.2) from YAML: metadata, prices and key references;
// a scripted simulated model answers keyless, and a GGUF entry fails with a clear error.
import { fileURLToPath } from 'node:url';
import { Harness, HarnessError } from 'forge-harness';

const file = fileURLToPath(new URL('./models.yaml', import.meta.url));
const harness = await Harness.fromFile(file, { env: {} });

for (const id of harness.registry.ids()) {
  const m = harness.registry.entry(id);
  const price = m.pricePerMtok ? `$${m.pricePerMtok.input}/$${m.pricePerMtok.output} per Mtok` : 'no price';
  console.log(`${id.padEnd(18)} ${m.type.padEnd(10)} ctx=${m.contextWindow ?? '?'} ${price}`);
}

const reply = await harness.callLlm({ model: 'simulated', prompt: 'Can I get a refund?' });
console.log(`simulated: ${reply.text}`);

for (const id of ['gpt-4o', 'llama-3-70b']) {
  try {
    await harness.callLlm({ model: id, prompt: 'hello' });
  } catch (error) {
    if (!HarnessError.isInstance(error)) throw error;
    console.log(`${id}: ${error.code}: ${error.message}`);
  }
}
