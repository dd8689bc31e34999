/**
 * The council `forge demo` runs: the product spec's CustomerSupport council on the embedded
 * defaults — simulated models (no key) and SQLite memory. Kept as YAML so the demo goes
 * through the same loader as user files.
 */
export const demoConfigYaml = `# forge demo: the CustomerSupport council on keyless simulated models.
models:
  - id: triage-model
    type: simulated
    context_window: 32000
    price_per_mtok: { input: 0.15, output: 0.6 }
    capabilities: [tools, json, streaming]
    latency_ms: 40
  - id: resolver-model
    type: simulated
    context_window: 128000
    price_per_mtok: { input: 2.5, output: 10 }
    capabilities: [tools, json, streaming]
    latency_ms: 60

councils:
  - name: CustomerSupport
    description: Triage a customer request, then answer it from the knowledge base.
    memory: \${FORGE_DEMO_MEMORY:-sqlite://.forge/demo.db}
    recursion_depth: 2
    knowledge:
      - id: kb-refunds
        text: Refunds are issued to the original payment method within 5 business days after we receive the returned item.
        meta: { topic: refunds }
      - id: kb-shipping
        text: Orders ship within 24 hours; tracking links are e-mailed, and standard delivery takes 3 to 5 days.
        meta: { topic: shipping }
      - id: kb-billing
        text: Duplicate charges are usually card pre-authorisations that disappear within 3 days; otherwise billing reverses them.
        meta: { topic: billing }
      - id: kb-password
        text: To reset a password use the Forgot password link; the reset e-mail expires after 30 minutes.
        meta: { topic: technical }
    agents:
      - name: Triage
        model: triage-model
        instructions: Triage agent. Classify the request and extract the facts that matter.
        skills: [NLU]
      - name: Resolver
        model: resolver-model
        instructions: Resolver agent. Answer the customer using the knowledge base.
        skills: [Search]
`;

/** Requests the demo sends when no --input is given. */
export const demoInputs = [
  'Hi, I returned order #48213 last week and still have not received my refund. Can you help?',
  'Where is my order 55190? It was supposed to arrive yesterday.',
];
