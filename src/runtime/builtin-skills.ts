/** Built-in skills every harness knows by name: `NLU` and `Search` (product spec §6.3). */
import { z } from 'zod';
import { type AnySkill, Skill } from './skill.ts';

const nluResult = z.object({
  intent: z.string().describe('The main intent, snake_case, e.g. refund, shipping, billing.'),
  confidence: z.number().min(0).max(1).describe('How sure the model is, 0..1.'),
  entities: z.record(z.string(), z.string()).describe('Named facts, e.g. { "order_id": "12345" }.'),
  sentiment: z.enum(['positive', 'neutral', 'negative']),
});

/** The NLU skill's output. */
export type NluResult = z.infer<typeof nluResult>;

/** Intent and entity extraction with the agent's own model (JSON output checked by a schema). */
export function createNluSkill(): Skill<{ text: string }, NluResult> {
  return new Skill({
    name: 'NLU',
    description:
      'Natural-language understanding: extracts the intent, entities (order ids, e-mails, amounts, dates) and sentiment of a text.',
    input: z.object({
      text: z.string().min(1).describe('The text to analyse, usually the customer message.'),
    }),
    run: async ({ text }, context) => {
      const result = await context.callLlm({
        system:
          'You extract structured facts. Answer only with JSON: intent (snake_case), confidence (0..1), entities (string map), sentiment.',
        prompt: text,
        schema: nluResult,
        maxTokens: 300,
      });
      return nluResult.parse(result.object);
    },
  });
}

/** Recall over the council's memory: the documents most relevant to a query. */
export function createSearchSkill(): Skill<{ query: string; k?: number | undefined }, { hits: unknown[] }> {
  return new Skill({
    name: 'Search',
    description:
      "Searches the council's memory (knowledge base and remembered documents) and returns the best matches.",
    input: z.object({
      query: z.string().min(1).describe('What to look for.'),
      k: z.int().min(1).max(20).optional().describe('How many results (default 3).'),
    }),
    run: async ({ query, k }, context) => {
      const hits = await context.memory.recall(context.namespace, query, {
        k: k ?? 3,
        signal: context.signal,
      });
      return {
        hits: hits.map((h) => ({
          id: h.id,
          text: h.text,
          score: Math.round(h.score * 1000) / 1000,
          meta: h.meta ?? {},
        })),
      };
    },
  });
}

/** A fresh instance of each built-in skill. */
export function builtinSkills(): Array<AnySkill> {
  return [createNluSkill(), createSearchSkill()];
}
