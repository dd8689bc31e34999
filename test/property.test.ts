import fc from 'fast-check';
import { Harness, HarnessError } from 'forge-harness';
import { describe, expect, it } from 'vitest';

const validYaml = `models:
  - id: sim
    type: simulated
    context_window: 4000
councils:
  - name: C
    memory: memory://
    agents:
      - name: A
        model: sim
        skills: [NLU]
`;

/** Line-level mutations of a valid file: dropped, duplicated, truncated, retyped lines. */
const mutatedYaml = fc
  .tuple(fc.array(fc.tuple(fc.nat(20), fc.nat(4), fc.string({ maxLength: 12 })), { maxLength: 4 }))
  .map(([edits]) => {
    const lines = validYaml.split('\n');
    for (const [at, kind, text] of edits) {
      const i = at % lines.length;
      const line = lines[i] ?? '';
      if (kind === 0) lines.splice(i, 1);
      else if (kind === 1) lines.splice(i, 0, line);
      else if (kind === 2) lines[i] = line.slice(0, Math.floor(line.length / 2));
      else if (kind === 3) lines[i] = line.replace(/: .*/, `: ${text}`);
      else lines[i] = `${line}${text}`;
    }
    return lines.join('\n');
  });

describe('bad input never crashes: every failure is a HarnessError with a code', () => {
  it('random and mutated configs through Harness.fromYaml → start → run', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutatedYaml, fc.string({ maxLength: 200 })), async (text) => {
        let harness: Harness | undefined;
        try {
          harness = Harness.fromYaml(text, { file: 'prop.yaml', env: {} });
          const council = harness.councilNames()[0];
          if (council) {
            const result = await harness.run(council, 'Where is my order 1234?');
            if (result.status !== 'succeeded') expect(HarnessError.isInstance(result.error)).toBe(true);
          }
        } catch (error) {
          if (!HarnessError.isInstance(error)) throw error;
          expect(error.code).toMatch(/^[a-z_]+$/);
        } finally {
          await harness?.stop();
        }
      }),
      { numRuns: 1500, seed: 20261126 },
    );
  }, 120_000);

  it('random prompts through callLlm', async () => {
    const harness = new Harness({
      models: [{ id: 'sim', type: 'simulated', contextWindow: 2000 }],
      memory: 'memory://',
    });
    const part = fc.record(
      {
        type: fc.constantFrom(
          'system',
          'user',
          'assistant',
          'text',
          'image',
          'tool_call',
          'tool_result',
          'video',
        ),
        value: fc.anything(),
      },
      { requiredKeys: [] },
    );
    const message = fc.record(
      {
        role: fc.constantFrom('user', 'assistant', 'system', 'tool', 'bot'),
        content: fc.oneof(fc.string(), fc.array(part, { maxLength: 4 })),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string(), message, fc.array(message, { maxLength: 4 }), fc.anything()),
        async (prompt) => {
          try {
            const result = await harness.callLlm({ model: 'sim', prompt: prompt as never, maxTokens: 50 });
            expect(typeof result.text).toBe('string');
          } catch (error) {
            if (!HarnessError.isInstance(error)) throw error;
            expect(['prompt_invalid', 'context_too_long']).toContain(error.code);
          }
        },
      ),
      { numRuns: 2000, seed: 20261126 },
    );
  }, 120_000);
});
