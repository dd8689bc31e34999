/**
 * The one converter from the unified prompt format to AI SDK messages. Every model call goes
 * through it, so each provider sees the same conversation whatever format the caller used.
 */
import type {
  AssistantContent,
  FilePart,
  ModelMessage,
  TextPart,
  ToolCallPart,
  ToolResultPart,
  UserContent,
} from 'ai';
import {
  classifyImageValue,
  type ImagePart,
  type MessageRole,
  partRole,
  type UnifiedMessage,
  type UnifiedPart,
  type UnifiedPrompt,
} from './schema.ts';

/** A prompt ready for `generateText` / `streamText`. */
export interface ModelPrompt {
  /**
   * Every system instruction of the prompt, in order, joined with a blank line; `undefined`
   * when there is none. Pass it as `instructions` (the AI SDK's name for the system prompt).
   */
  system: string | undefined;
  /**
   * The conversation without system messages. Empty when the prompt held only system text,
   * which `generateText` rejects: the caller must add a user message first.
   */
  messages: ModelMessage[];
}

type Role = 'user' | 'assistant' | 'tool';
type UserPartOut = Exclude<UserContent, string>[number];
type AssistantPartOut = Exclude<AssistantContent, string>[number];

/**
 * Converts a unified prompt to AI SDK messages.
 *
 * - `system` parts, system messages and text in a system message are gathered, in order, into
 *   {@link ModelPrompt.system}, joined with a blank line (empty ones are skipped).
 * - `user` parts become user text and `assistant` parts assistant text, whatever the enclosing
 *   message's role; `text` parts and string content take the enclosing message's role.
 * - `image` parts become `file` parts (`mediaType` from `media_type`, from the data URL, or the
 *   top-level `image`) in the enclosing message: assistant in an assistant message, user otherwise.
 * - `tool_call` parts go into an assistant message, `tool_result` parts into a tool message
 *   (a string result as `{ type: 'text' }` output, any other JSON as `{ type: 'json' }`).
 * - Adjacent parts that map to the same role share one message; a change of role starts a new
 *   message, in order. System parts are lifted out and do not split. Messages of the input are
 *   never merged with each other.
 *
 * It never throws on a prompt returned by {@link parsePrompt}. Shapes the parser rejects get a
 * lenient mapping rather than an exception (text or an image in a tool message goes to a user
 * message; an image in a system message too); validate untrusted input with `parsePrompt` first.
 */
export function toModelMessages(prompt: UnifiedPrompt): ModelPrompt {
  const messages: UnifiedMessage[] =
    typeof prompt === 'string'
      ? [{ role: 'user', content: prompt }]
      : Array.isArray(prompt)
        ? prompt
        : [prompt];
  const system: string[] = [];
  const out: ModelMessage[] = [];

  for (const message of messages) {
    const builder = new MessageBuilder(out);
    if (typeof message.content === 'string') {
      if (message.role === 'system') system.push(message.content);
      else out.push(stringMessage(textRole(message.role), message.content));
      continue;
    }
    for (const part of message.content) {
      if (part.type === 'system' || (part.type === 'text' && partRole('text', message.role) === 'system')) {
        system.push(part.value);
      } else {
        builder.add(part, message.role);
      }
    }
    builder.flush();
  }

  // Empty instructions carry nothing, and an empty system prompt is dropped by the AI SDK anyway.
  const instructions = system.filter((text) => text.length > 0);
  return { system: instructions.length === 0 ? undefined : instructions.join('\n\n'), messages: out };
}

/** The role of string content outside a system message (a tool message cannot hold text). */
function textRole(role: MessageRole): Role {
  return partRole('text', role) === 'assistant' ? 'assistant' : 'user';
}

function stringMessage(role: Role, text: string): ModelMessage {
  if (role === 'assistant') return { role: 'assistant', content: text };
  return { role: 'user', content: text };
}

/** Collects adjacent parts of one role and emits a message whenever the role changes. */
class MessageBuilder {
  readonly #out: ModelMessage[];
  #role: Role | undefined;
  #user: UserPartOut[] = [];
  #assistant: AssistantPartOut[] = [];
  #tool: ToolResultPart[] = [];

  constructor(out: ModelMessage[]) {
    this.#out = out;
  }

  add(part: Exclude<UnifiedPart, { type: 'system' }>, enclosing: MessageRole): void {
    switch (part.type) {
      case 'user':
        this.#userPart(text(part.value));
        return;
      case 'assistant':
        this.#assistantPart(text(part.value));
        return;
      case 'text':
        if (partRole('text', enclosing) === 'assistant') this.#assistantPart(text(part.value));
        else this.#userPart(text(part.value));
        return;
      case 'image':
        if (partRole('image', enclosing) === 'assistant') this.#assistantPart(filePart(part));
        else this.#userPart(filePart(part));
        return;
      case 'tool_call':
        this.#assistantPart(toolCall(part.id, part.name, part.args));
        return;
      case 'tool_result':
        this.#switchTo('tool');
        this.#tool.push(toolResult(part.tool_call_id, part.name, part.value));
        return;
    }
  }

  flush(): void {
    if (this.#role === 'user' && this.#user.length > 0) this.#out.push({ role: 'user', content: this.#user });
    if (this.#role === 'assistant' && this.#assistant.length > 0) {
      this.#out.push({ role: 'assistant', content: this.#assistant });
    }
    if (this.#role === 'tool' && this.#tool.length > 0) this.#out.push({ role: 'tool', content: this.#tool });
    this.#role = undefined;
    this.#user = [];
    this.#assistant = [];
    this.#tool = [];
  }

  #switchTo(role: Role): void {
    if (this.#role !== role) {
      this.flush();
      this.#role = role;
    }
  }

  #userPart(part: UserPartOut): void {
    this.#switchTo('user');
    this.#user.push(part);
  }

  #assistantPart(part: AssistantPartOut): void {
    this.#switchTo('assistant');
    this.#assistant.push(part);
  }
}

function text(value: string): TextPart {
  return { type: 'text', text: value };
}

function toolCall(id: string, name: string, args: unknown): ToolCallPart {
  return { type: 'tool-call', toolCallId: id, toolName: name, input: args };
}

function toolResult(id: string, name: string, value: ToolResultValue): ToolResultPart {
  return {
    type: 'tool-result',
    toolCallId: id,
    toolName: name,
    output: typeof value === 'string' ? { type: 'text', value } : { type: 'json', value },
  };
}

type ToolResultValue = Extract<ToolResultPart['output'], { type: 'json' }>['value'];

/**
 * An image as an AI SDK `file` part. Data URLs are split here because the AI SDK refuses a
 * data URL passed as inline data; http(s) URLs stay URLs so a provider that fetches them
 * itself gets the URL, not downloaded bytes.
 */
function filePart(part: ImagePart): FilePart {
  const source = classifyImageValue(part.value);
  switch (source?.kind) {
    case 'url':
      return {
        type: 'file',
        mediaType: part.media_type ?? 'image',
        data: { type: 'url', url: new URL(source.url) },
      };
    case 'data-url':
      return { type: 'file', mediaType: source.mediaType, data: { type: 'data', data: source.base64 } };
    default:
      // Bare base64, or (for an unparsed prompt) anything else: sent as inline data as it is.
      return {
        type: 'file',
        mediaType: part.media_type ?? 'image',
        data: { type: 'data', data: part.value },
      };
  }
}
