/**
 * The unified prompt format of the product spec (§3.1): one shape for every model. A prompt is
 * a plain string, one message, or an array of messages; a message's content is a string or a
 * list of typed parts, each carrying its payload in `value`:
 *
 * ```json
 * { "role": "user", "content": [ { "type": "system", "value": "You are a support agent." },
 *                                { "type": "user", "value": "Where is my order #12345?" } ] }
 * ```
 *
 * These zod schemas are the single source of truth: {@link parsePrompt} validates with them and
 * turns their issues into `prompt_invalid` errors with JSON pointers; the types below are
 * inferred from them.
 */
import { z } from 'zod';

/** Every part type, in the order error hints list them. */
export const PART_TYPES = [
  'system',
  'user',
  'assistant',
  'text',
  'image',
  'tool_call',
  'tool_result',
] as const;

/** Every message role. */
export const MESSAGE_ROLES = ['system', 'user', 'assistant', 'tool'] as const;

/** A part type of the unified format. */
export type PartType = (typeof PART_TYPES)[number];

/** A message role of the unified format. */
export type MessageRole = (typeof MESSAGE_ROLES)[number];

/** An IANA image media type such as `image/png`. */
const IMAGE_MEDIA_TYPE = /^image\/[a-z0-9][a-z0-9.+-]*$/i;
/** Standard base64 (RFC 4648 §4), padding optional, no line breaks. */
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** `data:image/png[;param=value]*;base64,<base64>`: the only data URL shape the AI SDK splits. */
const DATA_URL = /^data:(image\/[a-z0-9][a-z0-9.+-]*)((?:;[a-z0-9.+-]+=[^;,]*)*);base64,(.*)$/is;
/** A URL scheme prefix; base64 never contains `:`, so anything with a scheme is meant as a URL. */
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/** How an image `value` is written; `undefined` when it is none of the accepted forms. */
export type ImageSource =
  | { kind: 'url'; url: string }
  | { kind: 'data-url'; mediaType: string; base64: string }
  | { kind: 'base64'; base64: string };

/**
 * Classifies an image `value` as an http(s) URL, a base64 `data:` URL or bare base64.
 * Returns `undefined` for anything else (another scheme, a malformed URL, non-base64 text).
 */
export function classifyImageValue(value: string): ImageSource | undefined {
  if (/^https?:\/\//i.test(value)) {
    return URL.canParse(value) ? { kind: 'url', url: value } : undefined;
  }
  if (/^data:/i.test(value)) {
    const match = DATA_URL.exec(value);
    const mediaType = match?.[1];
    const base64 = match?.[3];
    if (mediaType === undefined || base64 === undefined || !BASE64.test(base64)) return undefined;
    return { kind: 'data-url', mediaType, base64 };
  }
  if (SCHEME.test(value) || !BASE64.test(value)) return undefined;
  return { kind: 'base64', base64: value };
}

const textValue = (who: string) =>
  z.string().describe(`The text${who}. May be empty; it is sent as it is, without trimming.`);

/** Instructions for the model; gathered, in order, into the one system prompt. */
export const systemPartSchema = z
  .strictObject({
    type: z.literal('system').describe('A system instruction, wherever it appears.'),
    value: textValue(' of the instruction'),
  })
  .describe(
    'A system instruction. All system parts of a prompt are joined, in order, into one system prompt.',
  );

/** Text said by the user, whatever the enclosing message's role. */
export const userPartSchema = z
  .strictObject({
    type: z.literal('user').describe('Text said by the user.'),
    value: textValue(' the user said'),
  })
  .describe('Text said by the user.');

/** Text said by the assistant (an earlier model turn), whatever the enclosing message's role. */
export const assistantPartSchema = z
  .strictObject({
    type: z.literal('assistant').describe('Text said by the assistant in an earlier turn.'),
    value: textValue(' the assistant said'),
  })
  .describe('Text said by the assistant in an earlier turn.');

/** Text that belongs to whoever the enclosing message's role names. */
export const textPartSchema = z
  .strictObject({
    type: z.literal('text').describe("Text in the voice of the enclosing message's role."),
    value: textValue(''),
  })
  .describe("Plain text in the voice of the enclosing message's role (not allowed in a tool message).");

/** An image, by URL or inline. */
export const imagePartSchema = z
  .strictObject({
    type: z.literal('image').describe('An image.'),
    value: z
      .string()
      .describe(
        'The image: an http(s) URL, a data URL (data:image/png;base64,...), or bare base64 (then media_type is required).',
      ),
    media_type: z
      .string()
      .regex(IMAGE_MEDIA_TYPE, { message: 'expected an image media type such as image/png' })
      .optional()
      .describe('IANA media type such as image/png. Required with bare base64; optional for URLs.'),
  })
  .superRefine((part, ctx) => {
    const source = classifyImageValue(part.value);
    if (source === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['value'],
        message: 'expected an http(s) URL, a base64 data URL (data:image/...;base64,...) or bare base64',
        params: {
          hint: 'give the image as https://..., as data:image/png;base64,..., or as base64 text with "media_type": "image/png" (no line breaks)',
        },
      });
    } else if (source.kind === 'base64' && part.media_type === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['media_type'],
        message: 'expected a media_type next to bare base64 image data',
        params: {
          hint: 'add "media_type": "image/png" (or image/jpeg, image/webp, ...) next to the base64 value',
        },
      });
    }
  })
  .describe('An image. Not allowed in a system or tool message.');

/** A JSON value (string, number, boolean, null, array, object); no `undefined`, NaN or functions. */
export const jsonValueSchema = z.json().describe('Any JSON value.');

/** A tool call the assistant made; always sent as part of an assistant turn. */
export const toolCallPartSchema = z
  .strictObject({
    type: z.literal('tool_call').describe('A tool call made by the assistant.'),
    id: z.string().min(1).describe('The call id; the matching tool_result repeats it as tool_call_id.'),
    name: z.string().min(1).describe('The name of the tool called.'),
    args: z.record(z.string(), jsonValueSchema).describe("The call's arguments, a JSON object."),
  })
  .describe('A tool call made by the assistant. It is sent in an assistant message.');

/** The result of a tool call; always sent in a tool message. */
export const toolResultPartSchema = z
  .strictObject({
    type: z.literal('tool_result').describe('The result of a tool call.'),
    tool_call_id: z.string().min(1).describe('The id of the tool_call this answers.'),
    name: z.string().min(1).describe('The name of the tool that produced it.'),
    value: jsonValueSchema.describe('The result: a string is sent as text, anything else as JSON.'),
  })
  .describe('The result of a tool call. It is sent in a tool message.');

/** Any part, told apart by `type`. */
export const partSchema = z
  .discriminatedUnion('type', [
    systemPartSchema,
    userPartSchema,
    assistantPartSchema,
    textPartSchema,
    imagePartSchema,
    toolCallPartSchema,
    toolResultPartSchema,
  ])
  .describe('One typed part of a message; `type` says which.');

/** The schema of each part type, for callers that need one part's fields (error hints do). */
export const PART_SCHEMAS = {
  system: systemPartSchema,
  user: userPartSchema,
  assistant: assistantPartSchema,
  text: textPartSchema,
  image: imagePartSchema,
  tool_call: toolCallPartSchema,
  tool_result: toolResultPartSchema,
} as const satisfies Record<PartType, unknown>;

/** One message. */
export const messageSchema = z
  .strictObject({
    role: z
      .enum(MESSAGE_ROLES)
      .describe('Who speaks. Parts typed system/user/assistant/tool_call/tool_result carry their own role.'),
    content: z
      .union([
        z.string().describe("Plain text in the voice of the message's role."),
        z.array(partSchema).min(1).describe('Typed parts, in order.'),
      ])
      .describe('A string, or a non-empty list of typed parts.'),
  })
  .superRefine((message, ctx) => {
    // Only parts without a role of their own (text, image) take the message's role, and some
    // roles cannot hold them: a tool message carries tool results only, a system prompt is text.
    if (message.role === 'tool' && typeof message.content === 'string') {
      ctx.addIssue({
        code: 'custom',
        path: ['content'],
        message: 'expected a list of tool_result parts in a tool message',
        params: {
          hint: 'write [{ "type": "tool_result", "tool_call_id": "...", "name": "...", "value": ... }]',
        },
      });
      return;
    }
    if (typeof message.content === 'string') return;
    message.content.forEach((part, index) => {
      if (message.role === 'tool' && (part.type === 'text' || part.type === 'image')) {
        ctx.addIssue({
          code: 'custom',
          path: ['content', index, 'type'],
          message: 'expected only tool_result (or system/user/assistant/tool_call) parts in a tool message',
          params: {
            hint: 'put tool output in a tool_result part, or move the text to a user or assistant part',
          },
        });
      } else if (message.role === 'system' && part.type === 'image') {
        ctx.addIssue({
          code: 'custom',
          path: ['content', index, 'type'],
          message: 'expected no image part in a system message',
          params: { hint: 'move the image to a user message' },
        });
      }
    });
  })
  .describe('One message: a role and its content.');

/**
 * The role a part is sent with: `system` for system text (gathered into the system prompt),
 * the part's own role for user/assistant/tool_call/tool_result parts, and the enclosing role
 * for text and images. A tool message cannot hold text or images and a system message cannot
 * hold images; the parser rejects those, and this maps them to `user` so conversion of an
 * unchecked prompt stays total.
 */
export function partRole(type: PartType, enclosing: MessageRole): 'system' | 'user' | 'assistant' | 'tool' {
  switch (type) {
    case 'system':
      return 'system';
    case 'user':
      return 'user';
    case 'assistant':
    case 'tool_call':
      return 'assistant';
    case 'tool_result':
      return 'tool';
    case 'text':
      return enclosing === 'system' || enclosing === 'assistant' ? enclosing : 'user';
    case 'image':
      return enclosing === 'assistant' ? 'assistant' : 'user';
  }
}

/**
 * Every tool call needs its result before the next user turn (or the end of the prompt): the AI
 * SDK refuses the prompt otherwise (`MissingToolResultsError`), and a provider would too. Checked
 * here so the error points at the unanswered call instead of surfacing at call time.
 */
function checkToolResults(messages: readonly UnifiedMessage[], indexed: boolean, ctx: z.RefinementCtx): void {
  const pending = new Map<string, (string | number)[]>();
  const report = (): void => {
    const [id, path] = pending.entries().next().value ?? ['', []];
    ctx.addIssue({
      code: 'custom',
      path,
      message: `expected a tool_result with tool_call_id ${JSON.stringify(id)} before the next user turn or the end of the prompt`,
      params: {
        found: 'none',
        hint: `add { "type": "tool_result", "tool_call_id": ${JSON.stringify(id)}, "name": "...", "value": ... } after the call, or remove the call`,
      },
    });
  };
  for (const [messageIndex, message] of messages.entries()) {
    const base = indexed ? [messageIndex] : [];
    const parts = typeof message.content === 'string' ? [{ type: 'text' as const }] : message.content;
    for (const [partIndex, part] of parts.entries()) {
      const role = partRole(part.type, message.role);
      if (part.type === 'tool_call') pending.set(part.id, [...base, 'content', partIndex, 'id']);
      else if (part.type === 'tool_result') pending.delete(part.tool_call_id);
      else if (role === 'user' && pending.size > 0) {
        report();
        return;
      }
    }
  }
  if (pending.size > 0) report();
}

/** A whole prompt: a plain string (one user message), one message, or a non-empty list of messages. */
export const unifiedPromptSchema = z
  .union([
    z.string().describe('One user message.'),
    messageSchema,
    z.array(messageSchema).min(1).describe('A conversation, oldest message first.'),
  ])
  .superRefine((prompt, ctx) => {
    if (typeof prompt === 'string') return;
    if (Array.isArray(prompt)) checkToolResults(prompt, true, ctx);
    else checkToolResults([prompt], false, ctx);
  })
  .describe(
    'A prompt in the unified format: a string, one message, or a list of messages. Every tool_call needs its tool_result before the next user turn.',
  );

/** A system instruction part. */
export type SystemPart = z.infer<typeof systemPartSchema>;
/** A user text part. */
export type UserPart = z.infer<typeof userPartSchema>;
/** An assistant text part. */
export type AssistantPart = z.infer<typeof assistantPartSchema>;
/** A text part in the enclosing message's voice. */
export type TextPart = z.infer<typeof textPartSchema>;
/** An image part. */
export type ImagePart = z.infer<typeof imagePartSchema>;
/** A tool call part. */
export type ToolCallPart = z.infer<typeof toolCallPartSchema>;
/** A tool result part. */
export type ToolResultPart = z.infer<typeof toolResultPartSchema>;
/** Any part of the unified format. */
export type UnifiedPart = z.infer<typeof partSchema>;
/** One message of the unified format. */
export type UnifiedMessage = z.infer<typeof messageSchema>;
/** A prompt in the unified format. */
export type UnifiedPrompt = z.infer<typeof unifiedPromptSchema>;
