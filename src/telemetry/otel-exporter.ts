/**
 * `OpenTelemetryExporter`: OTLP trace export for apps that have no OpenTelemetry SDK set up of
 * their own. `start()` loads the SDK (optional peer dependencies, imported only here, only then),
 * and registers a tracer provider that batches spans to `endpoint`; the harness's spans (see
 * `spans.ts`) go through `@opentelemetry/api` to whichever provider is registered, so an app with
 * its own SDK needs no exporter at all.
 */
import { ProxyTracerProvider, type TracerProvider, trace } from '@opentelemetry/api';
import { z } from 'zod';
import { HarnessError } from '../errors.ts';

const schema = z.strictObject({
  endpoint: z.url().default('http://localhost:4318/v1/traces'),
  serviceName: z.string().min(1).default('forge-harness'),
  headers: z.record(z.string(), z.string()).default({}),
  protocol: z
    .enum(['http/protobuf', 'http/json'], {
      error: 'protocol is "http/protobuf" or "http/json" (OTLP over HTTP; gRPC is not supported)',
    })
    .default('http/protobuf'),
});

export type OpenTelemetryExporterOptions = Partial<z.input<typeof schema>>;

/** OTLP over HTTP: protobuf bodies (the OTLP default) or JSON bodies. */
export type OtlpProtocol = 'http/protobuf' | 'http/json';

/** The npm package that sends each protocol. */
export const otlpExporterPackages: Readonly<Record<OtlpProtocol, string>> = {
  'http/protobuf': '@opentelemetry/exporter-trace-otlp-proto',
  'http/json': '@opentelemetry/exporter-trace-otlp-http',
};

type SdkTrace = typeof import('@opentelemetry/sdk-trace');
type SdkResources = typeof import('@opentelemetry/resources');
type OtlpExporterModule = typeof import('@opentelemetry/exporter-trace-otlp-http');
type SdkTracerProvider = InstanceType<SdkTrace['TracerProvider']>;

/** The SDK parts `start()` needs. */
export interface LoadedTraceSdk {
  sdk: SdkTrace;
  resources: SdkResources;
  exporter: OtlpExporterModule;
}

/**
 * Imports the OpenTelemetry SDK packages for `protocol` (exported for tests of the
 * missing-package message).
 *
 * @param importer how to import a package; default `import(specifier)`.
 * @throws HarnessError `config_invalid` naming the package to install when one is missing.
 */
export async function loadTraceSdk(
  protocol: OtlpProtocol,
  importer: (specifier: string) => Promise<unknown> = (specifier) => import(specifier),
): Promise<LoadedTraceSdk> {
  const load = async <T>(specifier: string): Promise<T> => {
    try {
      return (await importer(specifier)) as T;
    } catch (error) {
      const missing = (error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND';
      throw new HarnessError(
        'config_invalid',
        missing
          ? `OpenTelemetryExporter needs ${specifier}, which is not installed`
          : `OpenTelemetryExporter cannot load ${specifier}: ${String(error)}`,
        {
          cause: error,
          location: { path: 'OpenTelemetryExporter' },
          hint: `run \`npm install @opentelemetry/sdk-trace@^3 @opentelemetry/resources@^3 ${otlpExporterPackages[protocol]}@^0.301\` (optional peer dependencies of forge-harness)`,
        },
      );
    }
  };
  const [sdk, resources, exporter] = await Promise.all([
    load<SdkTrace>('@opentelemetry/sdk-trace'),
    load<SdkResources>('@opentelemetry/resources'),
    load<OtlpExporterModule>(otlpExporterPackages[protocol]),
  ]);
  return { sdk, resources, exporter };
}

/**
 * Where traces go: an OTLP/HTTP endpoint such as an OpenTelemetry Collector, Jaeger, Tempo or a
 * vendor's intake. Give it to the harness (`new Harness({ telemetry })`), or start it yourself.
 */
export class OpenTelemetryExporter {
  /** OTLP traces URL (default `http://localhost:4318/v1/traces`). */
  readonly endpoint: string;
  /** `service.name` of the exported resource (default `forge-harness`). */
  readonly serviceName: string;
  /** Sent with every export (e.g. an API key of the tracing backend); never logged. */
  readonly headers: Readonly<Record<string, string>>;
  /** Wire format (default `http/protobuf`). */
  readonly protocol: OtlpProtocol;
  #provider: SdkTracerProvider | undefined;
  #starting: Promise<void> | undefined;

  /**
   * Defaults: OTLP over HTTP (protobuf) to `http://localhost:4318/v1/traces`, service `forge-harness`.
   *
   * @throws HarnessError `config_invalid` naming the option (`OpenTelemetryExporter.endpoint`, …).
   */
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
          hint:
            field === 'protocol'
              ? 'use http/protobuf (the OTLP default, port 4318) or http/json'
              : 'endpoint is an OTLP URL such as http://localhost:4318/v1/traces',
        },
      );
    }
    this.endpoint = parsed.data.endpoint;
    this.serviceName = parsed.data.serviceName;
    this.headers = parsed.data.headers;
    this.protocol = parsed.data.protocol;
  }

  /** Whether `start()` has registered the exporter's tracer provider (and `shutdown()` has not run). */
  get started(): boolean {
    return this.#provider !== undefined;
  }

  /**
   * Loads the SDK and registers a tracer provider as the global one: spans are batched (up to
   * 512 per export, every 5 s) to `endpoint`. Idempotent; concurrent calls share one start.
   *
   * @throws HarnessError `config_invalid` when an SDK package is missing (the hint names the
   *   install command) or another tracer provider is already registered globally (then the app's
   *   own SDK already receives the harness's spans: drop the exporter).
   */
  start(): Promise<void> {
    this.#starting ??= this.#start().catch((error: unknown) => {
      this.#starting = undefined;
      throw error;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    const { sdk, resources, exporter } = await loadTraceSdk(this.protocol);
    const provider = new sdk.TracerProvider({
      resource: resources.resourceFromAttributes({ 'service.name': this.serviceName }),
      spanProcessors: [
        new sdk.BatchSpanProcessor({
          exporter: new exporter.OTLPTraceExporter({ url: this.endpoint, headers: { ...this.headers } }),
        }),
      ],
    });
    if (!trace.setGlobalTracerProvider(provider)) {
      await provider.shutdown();
      throw new HarnessError(
        'config_invalid',
        'an OpenTelemetry tracer provider is already registered in this process',
        {
          location: { path: 'OpenTelemetryExporter' },
          hint: 'the harness sends its spans to the registered provider already: remove the OpenTelemetryExporter, or configure export in your own SDK setup',
        },
      );
    }
    this.#provider = provider;
  }

  /** Exports every span ended so far now (e.g. before a short-lived process exits). */
  async flush(): Promise<void> {
    await this.#provider?.forceFlush();
  }

  /** Exports what is pending, stops exporting and unregisters the global provider it registered. */
  async shutdown(): Promise<void> {
    const provider = this.#provider;
    if (!provider) return;
    this.#provider = undefined;
    this.#starting = undefined;
    try {
      await provider.shutdown();
    } finally {
      if (isGlobal(provider)) trace.disable();
    }
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

function isGlobal(provider: TracerProvider): boolean {
  const global = trace.getTracerProvider();
  return global === provider || (global instanceof ProxyTracerProvider && global.getDelegate() === provider);
}
