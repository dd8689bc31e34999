/**
 * `OpenTelemetryExporter`: where traces go. This issue gives it a validated shape; the
 * telemetry layer turns it into spans for runs, agents, steps, model and tool calls.
 */
import { z } from 'zod';
import { HarnessError } from '../errors.ts';

const schema = z.strictObject({
  endpoint: z.url().default('http://localhost:4318/v1/traces'),
  serviceName: z.string().min(1).default('forge-harness'),
  headers: z.record(z.string(), z.string()).default({}),
  protocol: z.enum(['http/protobuf', 'http/json', 'grpc']).default('http/protobuf'),
});

export type OpenTelemetryExporterOptions = Partial<z.input<typeof schema>>;

export class OpenTelemetryExporter {
  readonly endpoint: string;
  readonly serviceName: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly protocol: 'http/protobuf' | 'http/json' | 'grpc';

  /** Defaults: OTLP over HTTP to `http://localhost:4318/v1/traces`, service `forge-harness`. */
  constructor(options: OpenTelemetryExporterOptions = {}) {
    const parsed = schema.safeParse(options);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path.join('.') ?? '';
      throw new HarnessError(
        'config_invalid',
        `OpenTelemetryExporter.${field}: ${issue?.message ?? 'invalid'}`,
        {
          location: { path: `OpenTelemetryExporter.${field}` },
          hint: 'endpoint is an OTLP URL such as http://localhost:4318/v1/traces',
        },
      );
    }
    this.endpoint = parsed.data.endpoint;
    this.serviceName = parsed.data.serviceName;
    this.headers = parsed.data.headers;
    this.protocol = parsed.data.protocol;
  }

  /** Secret-free description (header values are not included). */
  toJSON(): Record<string, unknown> {
    return {
      endpoint: this.endpoint,
      serviceName: this.serviceName,
      protocol: this.protocol,
      headers: Object.keys(this.headers),
    };
  }
}
