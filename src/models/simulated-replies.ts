/**
 * The rule-based "brain" of the simulated provider: deterministic intent and entity
 * extraction, JSON from a schema, and replies composed from tool results. It is not a
 * language model; it is a keyless stand-in that makes councils do visible, repeatable work.
 */

interface IntentRule {
  intent: string;
  keywords: readonly string[];
}

const intents: readonly IntentRule[] = [
  { intent: 'refund', keywords: ['refund', 'money back', 'reimburse', 'return'] },
  { intent: 'cancellation', keywords: ['cancel', 'unsubscribe', 'terminate'] },
  { intent: 'billing', keywords: ['charge', 'charged', 'invoice', 'bill', 'payment', 'card'] },
  {
    intent: 'shipping',
    keywords: ['where is my order', 'deliver', 'shipping', 'package', 'track', 'arrive', 'order'],
  },
  {
    intent: 'technical_support',
    keywords: ['error', 'bug', 'crash', 'login', 'password', 'broken', "doesn't work", 'not working'],
  },
  { intent: 'greeting', keywords: ['hello', 'hi ', 'good morning', 'hey'] },
];

export interface Classification {
  intent: string;
  confidence: number;
  entities: Record<string, string>;
  sentiment: 'positive' | 'neutral' | 'negative';
}

/** Keyword intent, regex entities, and a confidence that grows with the evidence. */
export function classify(text: string): Classification {
  const lower = ` ${text.toLowerCase()} `;
  let best: { intent: string; hits: number } = { intent: 'general_inquiry', hits: 0 };
  for (const rule of intents) {
    const hits = rule.keywords.filter((k) => lower.includes(k)).length;
    if (hits > best.hits) best = { intent: rule.intent, hits };
  }
  const confidence = best.hits === 0 ? 0.4 : Math.min(0.95, 0.6 + 0.15 * best.hits);
  return {
    intent: best.intent,
    confidence: round2(confidence),
    entities: extractEntities(text),
    sentiment: sentiment(lower),
  };
}

/** Order numbers, e-mail addresses, amounts and dates. */
export function extractEntities(text: string): Record<string, string> {
  const entities: Record<string, string> = {};
  const order = /(?:order|#)\s*#?\s*([A-Z0-9-]*\d{4,}[A-Z0-9-]*)/i.exec(text);
  if (order?.[1]) entities.order_id = order[1];
  const email = /[\w.+-]+@[\w-]+\.[\w.-]+/.exec(text);
  if (email) entities.email = email[0];
  const amount = /(?:[$€£]\s?\d+(?:[.,]\d{2})?|\d+(?:[.,]\d{2})?\s?(?:USD|EUR|GBP|dollars|euros))/i.exec(
    text,
  );
  if (amount) entities.amount = amount[0];
  const date = /\b(\d{4}-\d{2}-\d{2}|yesterday|today|tomorrow|last (?:week|month))\b/i.exec(text);
  if (date?.[1]) entities.date = date[1];
  return entities;
}

function sentiment(lower: string): Classification['sentiment'] {
  if (/(angry|terrible|worst|awful|unacceptable|frustrat|still)/.test(lower)) return 'negative';
  if (/(thank|great|love|awesome|happy)/.test(lower)) return 'positive';
  return 'neutral';
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  enum?: unknown[];
  required?: string[];
  minimum?: number;
  maximum?: number;
};

/** A JSON value shaped by `schema`, filled from what {@link classify} finds in `text`. */
export function jsonFromSchema(schema: unknown, text: string, name = ''): unknown {
  const s = (schema ?? {}) as JsonSchema;
  const c = classify(text);
  const key = name.toLowerCase();
  if (Array.isArray(s.enum) && s.enum.length > 0) {
    const known = key.includes('sentiment') ? c.sentiment : key.includes('intent') ? c.intent : undefined;
    if (known !== undefined && s.enum.includes(known)) return known;
    return (
      s.enum.find((v) => typeof v === 'string' && text.toLowerCase().includes(v.toLowerCase())) ?? s.enum[0]
    );
  }
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type ?? (s.properties ? 'object' : 'string')) {
    case 'object': {
      if (key === 'entities' && !s.properties) return c.entities;
      const out: Record<string, unknown> = {};
      // Optional fields are left out, as a careful model would: it only fills what it must.
      const required = new Set(s.required ?? Object.keys(s.properties ?? {}));
      for (const [prop, sub] of Object.entries(s.properties ?? {})) {
        if (required.has(prop)) out[prop] = jsonFromSchema(sub, text, prop);
      }
      return out;
    }
    case 'array':
      if (key === 'entities') return Object.entries(c.entities).map(([type, value]) => ({ type, value }));
      return [];
    case 'number':
    case 'integer': {
      const value = key.includes('confidence') || key.includes('score') ? c.confidence : (s.minimum ?? 0);
      return Math.min(value, s.maximum ?? value);
    }
    case 'boolean':
      return c.intent !== 'general_inquiry';
    default:
      // Fields that carry the request itself get all of it (tool inputs such as { text } or { query }).
      if (['text', 'query', 'input', 'message', 'question', 'content'].includes(key)) return text;
      if (key.includes('intent')) return c.intent;
      if (key.includes('sentiment')) return c.sentiment;
      if (key.includes('summary') || key.includes('answer')) return summarise(text);
      return summarise(text);
  }
}

/** The first sentence of `text`, at most 120 characters. */
export function summarise(text: string): string {
  const first = text.trim().split(/(?<=[.!?])\s/)[0] ?? '';
  return first.length > 120 ? `${first.slice(0, 117)}...` : first;
}

/** Turns one tool output into a sentence: classifications, recall hits, or compact JSON. */
export function describeToolOutput(toolName: string, output: unknown): string {
  if (output && typeof output === 'object' && !Array.isArray(output)) {
    const o = output as Record<string, unknown>;
    if (typeof o.intent === 'string') {
      const entities = o.entities && typeof o.entities === 'object' ? Object.entries(o.entities) : [];
      const facts = entities.length
        ? ` Facts: ${entities.map(([k, v]) => `${k}=${String(v)}`).join(', ')}.`
        : '';
      const conf = typeof o.confidence === 'number' ? ` (confidence ${o.confidence})` : '';
      return `Intent: ${o.intent}${conf}.${facts}`;
    }
    if (Array.isArray(o.hits)) return describeHits(o.hits);
  }
  if (Array.isArray(output)) return describeHits(output);
  const json = JSON.stringify(output) ?? 'null';
  return `${toolName} returned ${json.length > 160 ? `${json.slice(0, 157)}...` : json}.`;
}

function describeHits(hits: unknown[]): string {
  const texts = hits
    .map((h) =>
      h && typeof h === 'object' && typeof (h as { text?: unknown }).text === 'string'
        ? (h as { text: string }).text
        : undefined,
    )
    .filter((t): t is string => t !== undefined);
  if (texts.length === 0) return 'I found nothing relevant in memory.';
  return `From memory: ${texts[0]}${texts.length > 1 ? ` (and ${texts.length - 1} more related note${texts.length > 2 ? 's' : ''})` : ''}`;
}

/** A plain answer when no rule, tool or schema applies. */
export function defaultReply(system: string, userText: string): string {
  const c = classify(userText);
  const role = system.split('\n')[0]?.trim();
  const lead = role ? `${role.replace(/\.$/, '')}: ` : '';
  return `${lead}I understand this as ${c.intent.replace('_', ' ')} (confidence ${c.confidence}). ${summarise(userText)}`;
}
