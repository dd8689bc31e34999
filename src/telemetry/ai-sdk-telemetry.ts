/**
 * The AI SDK's own telemetry, per call: on when someone listens to it, off otherwise.
 *
 * Every `generateText`/`streamText` call builds lifecycle events for the AI SDK's telemetry
 * integrations and its `ai:telemetry` tracing channel, copying and redacting each event even when
 * no integration is registered and the channel has no subscriber — about half of the SDK's own
 * time on a fast model (bench/RESULTS.md, `overhead`). The harness reports its calls through its
 * own events, spans and metrics, so it turns that work off unless an application listens:
 * integrations registered with the AI SDK's `registerTelemetry`, or a subscriber to the tracing
 * channel (an OpenTelemetry instrumentation of the AI SDK). Both are checked on every call, so a
 * listener added at any time sees the calls that follow.
 */
import { tracingChannel } from 'node:diagnostics_channel';
import { AI_SDK_TELEMETRY_TRACING_CHANNEL } from 'ai';

const channel = tracingChannel(AI_SDK_TELEMETRY_TRACING_CHANNEL);
const off: AiSdkTelemetry = Object.freeze({ isEnabled: false });
const on: AiSdkTelemetry = Object.freeze({});

/** The AI SDK's `telemetry` call option, as far as the harness sets it. */
export interface AiSdkTelemetry {
  readonly isEnabled?: false;
}

/** The `telemetry` option for an AI SDK call: `{ isEnabled: false }` when nobody listens, else `{}` (the SDK's default). */
export function aiSdkTelemetry(): AiSdkTelemetry {
  const integrations = (globalThis as { AI_SDK_TELEMETRY_INTEGRATIONS?: readonly unknown[] })
    .AI_SDK_TELEMETRY_INTEGRATIONS;
  if (integrations !== undefined && integrations.length > 0) return on;
  return channel.hasSubscribers ? on : off;
}
