/**
 * Token counting for context-window checks. Exact counts use the `o200k_base` BPE (GPT-4o and
 * later; other vendors' tokenizers differ by a few percent, so treat counts for them as
 * estimates). The tokenizer's ranks take ≈ 1 s and tens of MB to load, so they are loaded
 * lazily on the first exact count, and {@link assertFitsContext} (on the path of every model
 * call) first tries a bound that needs no tokenizer at all.
 */
import { createRequire } from 'node:module';
import type { ModelMessage } from 'ai';
import type { Tiktoken, TiktokenBPE } from 'js-tiktoken/lite';
import { HarnessError } from '../errors.ts';
import type { UnifiedPrompt } from './schema.ts';
import { type ModelPrompt, toModelMessages } from './to-model-messages.ts';

/**
 * Tokens added per message for the role and the chat template's delimiters
 * (`<|im_start|>role … <|im_end|>`): 3 in OpenAI's published recipe for its chat models,
 * rounded up to 4 so that counts err on the side of refusing early rather than a provider 400.
 */
export const MESSAGE_OVERHEAD_TOKENS = 4;

/** Tokens that prime the model's reply (`<|im_start|>assistant`), added once per message list. */
export const REPLY_PRIMING_TOKENS = 3;

/**
 * Fixed estimate per image or other non-text file: OpenAI's cost of a 1024×1024 image at high
 * detail (85 base + 4 tiles × 170). Real costs depend on size, detail and vendor; this is a
 * planning number, not a bill.
 */
export const IMAGE_TOKENS = 765;

/**
 * What can be counted: a bare string (counted as plain text, without message overhead), a
 * unified prompt, AI SDK messages, or the `{ system, messages }` result of `toModelMessages`.
 */
export type TokenCountInput = string | UnifiedPrompt | readonly ModelMessage[] | ModelPrompt;

/** Options of {@link assertFitsContext}. */
export interface AssertFitsContextOptions {
  /** The model id, for the error message and details. */
  model: string;
  /** Tokens the model accepts, prompt plus output; `undefined` when unknown (nothing is checked). */
  contextWindow: number | undefined;
  /** Tokens reserved for the reply, counted against the window. Default 0. */
  maxOutputTokens?: number | undefined;
  /** The prompt; a bare string here is a user message (message overhead included). */
  prompt: TokenCountInput;
}

/** Text to tokenize plus tokens known without the tokenizer (message overheads, images). */
interface Tally {
  texts: string[];
  fixed: number;
}

const require = createRequire(import.meta.url);
let encoder: Tiktoken | undefined;

/** True once the BPE ranks are loaded; lets tests prove the fast path never loads them. */
export function tokenizerLoaded(): boolean {
  return encoder !== undefined;
}

function getEncoder(): Tiktoken {
  if (encoder === undefined) {
    // `require`, not `import()`: counting is synchronous, and the CJS build loads the same way
    // from the sources and from dist.
    const lite = require('js-tiktoken/lite') as typeof import('js-tiktoken/lite');
    const ranks = require('js-tiktoken/ranks/o200k_base') as TiktokenBPE | { default: TiktokenBPE };
    encoder = new lite.Tiktoken('default' in ranks ? ranks.default : ranks);
  }
  return encoder;
}

/**
 * Exact `o200k_base` token count of all text in `input`, plus {@link MESSAGE_OVERHEAD_TOKENS}
 * per message, {@link REPLY_PRIMING_TOKENS} once per non-empty message list and
 * {@link IMAGE_TOKENS} per image or file. Tool calls count their name and JSON arguments, tool
 * results their name and value. A bare string counts as plain text: `countTokens('hello world')`
 * is 2. Text that looks like a special token (`<|endoftext|>`) counts as ordinary text, as the
 * provider treats user text. Loads the tokenizer on first use (≈ 1 s, once per process).
 */
export function countTokens(input: TokenCountInput): number {
  const tally = collect(input);
  const bpe = getEncoder();
  let count = tally.fixed;
  for (const text of tally.texts) {
    if (text.length > 0) count += bpe.encode(text, [], []).length;
  }
  return count;
}

/**
 * A cheap upper bound of {@link countTokens}, without the tokenizer: the UTF-8 byte length of
 * the same text plus the same overheads. It is an upper bound because `o200k_base` is a
 * byte-level BPE: it starts from one token per byte and each merge joins two tokens into one,
 * so no text ever yields more tokens than it has bytes (special-token text is encoded as
 * ordinary text, so it obeys the same rule). For English it overshoots about 4×.
 */
export function tokenUpperBound(input: TokenCountInput): number {
  const tally = collect(input);
  let bound = tally.fixed;
  for (const text of tally.texts) bound += Buffer.byteLength(text, 'utf8');
  return bound;
}

/**
 * Throws when the prompt plus the reserved output cannot fit the model's context window.
 * Returns at once when the window is unknown, and without loading the tokenizer when the
 * {@link tokenUpperBound} already fits, which is the common case on the per-call hot path.
 *
 * @throws HarnessError `context_too_long` with `details: { model, limit, count, maxOutputTokens }`
 *   (`count` is the prompt's exact token count, `limit` the context window).
 */
export function assertFitsContext(options: AssertFitsContextOptions): void {
  const { model, contextWindow } = options;
  if (contextWindow === undefined || !Number.isFinite(contextWindow)) return;
  const reserved = options.maxOutputTokens ?? 0;
  const available = contextWindow - reserved;
  const prompt = typeof options.prompt === 'string' ? asUserMessage(options.prompt) : options.prompt;
  if (tokenUpperBound(prompt) <= available) return;
  const count = countTokens(prompt);
  if (count <= available) return;
  const needs =
    reserved > 0
      ? `${count + reserved} tokens (${count} prompt + ${reserved} reserved for output)`
      : `${count} tokens`;
  throw new HarnessError('context_too_long', `prompt needs ${needs} but ${model} accepts ${contextWindow}`, {
    hint: 'shorten the prompt, lower max_tokens, or use a model with a larger context_window',
    details: { model, limit: contextWindow, count, maxOutputTokens: reserved },
  });
}

function asUserMessage(text: string): ModelMessage[] {
  return [{ role: 'user', content: text }];
}

/** Gathers what to count, in one shape for every input kind so both counts see the same text. */
function collect(input: TokenCountInput): Tally {
  const tally: Tally = { texts: [], fixed: 0 };
  if (typeof input === 'string') {
    tally.texts.push(input);
    return tally;
  }
  const { system, messages } = toModelPrompt(input);
  if (system !== undefined) {
    tally.fixed += MESSAGE_OVERHEAD_TOKENS;
    tally.texts.push(system);
  }
  for (const message of messages) countMessage(message, tally);
  if (system !== undefined || messages.length > 0) tally.fixed += REPLY_PRIMING_TOKENS;
  return tally;
}

function toModelPrompt(input: Exclude<TokenCountInput, string>): {
  system: string | undefined;
  messages: readonly ModelMessage[];
} {
  if (!Array.isArray(input)) {
    if ('messages' in input && Array.isArray(input.messages)) return input as ModelPrompt;
    return toModelMessages(input as UnifiedPrompt);
  }
  if (isUnified(input)) return toModelMessages(input as UnifiedPrompt);
  return { system: undefined, messages: input as readonly ModelMessage[] };
}

const UNIFIED_ONLY = new Set(['system', 'user', 'assistant', 'tool_call', 'tool_result']);

/**
 * A list of messages is in the unified format when a part uses one of its own types or its
 * `value` field. Lists of string-content messages read the same either way (system messages
 * then count one overhead each instead of being joined, which only raises the count).
 */
function isUnified(messages: readonly unknown[]): boolean {
  return messages.some((message) => {
    const content = (message as { content?: unknown } | null)?.content;
    return (
      Array.isArray(content) &&
      content.some((part: { type?: unknown; value?: unknown } | null) => {
        if (typeof part !== 'object' || part === null) return false;
        return (typeof part.type === 'string' && UNIFIED_ONLY.has(part.type)) || 'value' in part;
      })
    );
  });
}

function countMessage(message: ModelMessage, tally: Tally): void {
  tally.fixed += MESSAGE_OVERHEAD_TOKENS;
  if (typeof message.content === 'string') {
    tally.texts.push(message.content);
    return;
  }
  for (const part of message.content) {
    switch (part.type) {
      case 'text':
      case 'reasoning':
        tally.texts.push(part.text);
        break;
      case 'image':
        tally.fixed += IMAGE_TOKENS;
        break;
      case 'file':
        if (isTextFile(part.data)) tally.texts.push(part.data.text);
        else tally.fixed += IMAGE_TOKENS;
        break;
      case 'tool-call':
        tally.texts.push(part.toolName, stringify(part.input));
        break;
      case 'tool-result':
        tally.texts.push(part.toolName);
        countToolOutput(part.output, tally);
        break;
      default:
        // Approval requests/responses, custom and reasoning-file parts carry no prompt text
        // we can see; providers send little or nothing for them.
        break;
    }
  }
}

function countToolOutput(
  output: Extract<ModelMessage['content'][number], { type: 'tool-result' }>['output'],
  tally: Tally,
): void {
  switch (output.type) {
    case 'text':
    case 'error-text':
      tally.texts.push(output.value);
      return;
    case 'json':
    case 'error-json':
      tally.texts.push(stringify(output.value));
      return;
    case 'execution-denied':
      tally.texts.push(output.reason ?? '');
      return;
    case 'content':
      for (const item of output.value) {
        if (item.type === 'text') tally.texts.push(item.text);
        else tally.fixed += IMAGE_TOKENS;
      }
      return;
  }
}

function isTextFile(data: unknown): data is { type: 'text'; text: string } {
  return (
    typeof data === 'object' &&
    data !== null &&
    (data as { type?: unknown }).type === 'text' &&
    typeof (data as { text?: unknown }).text === 'string'
  );
}

/** JSON text of a value as a provider would send it; never throws. */
function stringify(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return String(value);
  }
}
