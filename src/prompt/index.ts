/**
 * The unified prompt format of the product spec (§3.1) and its bridge to AI SDK messages:
 * schemas and types, {@link parsePrompt} for untrusted input, {@link toModelMessages} for every
 * model call, and token counting for context-window checks.
 */
export { parsePrompt, toPointer } from './parse.ts';
export {
  type AssistantPart,
  assistantPartSchema,
  classifyImageValue,
  type ImagePart,
  type ImageSource,
  imagePartSchema,
  jsonValueSchema,
  MESSAGE_ROLES,
  type MessageRole,
  messageSchema,
  PART_SCHEMAS,
  PART_TYPES,
  type PartType,
  partRole,
  partSchema,
  type SystemPart,
  systemPartSchema,
  type TextPart,
  type ToolCallPart,
  type ToolResultPart,
  textPartSchema,
  toolCallPartSchema,
  toolResultPartSchema,
  type UnifiedMessage,
  type UnifiedPart,
  type UnifiedPrompt,
  type UserPart,
  unifiedPromptSchema,
  userPartSchema,
} from './schema.ts';
export { type ModelPrompt, toModelMessages } from './to-model-messages.ts';
export {
  type AssertFitsContextOptions,
  assertFitsContext,
  countTokens,
  IMAGE_TOKENS,
  MESSAGE_OVERHEAD_TOKENS,
  REPLY_PRIMING_TOKENS,
  type TokenCountInput,
  tokenizerLoaded,
  tokenUpperBound,
} from './tokens.ts';
