import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { loadTraceSdk, OpenTelemetryExporter } from './otel-exporter.ts';

interface Received {
  url: string;
  contentType: string;
  apiKey: string | undefined;
  body: Buffer;
}

/** A stand-in OTLP/HTTP collector: records every request, answers 200 with an empty body. */
let server: Server;
let endpoint: string;
const received: Received[] = [];
let waiters: Array<() => void> = [];

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        url: req.url ?? '',
        contentType: req.headers['content-type'] ?? '',
        apiKey: req.headers['x-api-key'] as string | undefined,
        body: Buffer.concat(chunks),
      });
      for (const wake of waiters) wake();
      waiters = [];
      const json = req.headers['content-type']?.includes('json');
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const exporters: OpenTelemetryExporter[] = [];
afterEach(async () => {
  for (const e of exporters.splice(0)) await e.shutdown();
  received.length = 0;
  trace.disable();
});

function exporter(options: ConstructorParameters<typeof OpenTelemetryExporter>[0]) {
  const e = new OpenTelemetryExporter(options);
  exporters.push(e);
  return e;
}

describe('OpenTelemetryExporter', () => {
  for (const [protocol, contentType] of [
    ['http/json', 'application/json'],
    ['http/protobuf', 'application/x-protobuf'],
  ] as const) {
    it(`exports spans over OTLP ${protocol} with the service name and headers`, async () => {
      const e = exporter({
        endpoint,
        serviceName: 'forge-test-svc',
        protocol,
        headers: { 'x-api-key': 'k-123' },
      });
      expect(e.started).toBe(false);
      await Promise.all([e.start(), e.start()]);
      expect(e.started).toBe(true);
      trace.getTracer('test').startSpan('invoke_workflow Exported').end();
      await e.flush();
      expect(received).toHaveLength(1);
      const [request] = received;
      expect(request?.url).toBe('/v1/traces');
      expect(request?.contentType).toContain(contentType);
      expect(request?.apiKey).toBe('k-123');
      // Protobuf keeps strings as raw bytes, so both wire formats contain them verbatim.
      expect(request?.body.toString('latin1')).toContain('invoke_workflow Exported');
      expect(request?.body.toString('latin1')).toContain('forge-test-svc');
      if (protocol === 'http/json') {
        const body = JSON.parse(request?.body.toString('utf8') ?? '') as {
          resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ name: string }> }> }>;
        };
        expect(body.resourceSpans[0]?.scopeSpans[0]?.spans[0]?.name).toBe('invoke_workflow Exported');
      }
    });
  }

  it('exports what is pending at shutdown and unregisters its provider', async () => {
    const e = exporter({ endpoint, protocol: 'http/json' });
    await e.start();
    trace.getTracer('test').startSpan('last words').end();
    await e.shutdown();
    expect(e.started).toBe(false);
    expect(received.map((r) => r.body.toString('utf8')).join()).toContain('last words');
    expect(trace.getTracer('test').startSpan('after').isRecording()).toBe(false);
  });

  it('refuses to start beside another registered tracer provider', async () => {
    const first = exporter({ endpoint, protocol: 'http/json' });
    await first.start();
    const second = exporter({ endpoint, protocol: 'http/json' });
    const error = await second.start().catch((e: unknown) => e);
    expect(HarnessError.isInstance(error) && error.code).toBe('config_invalid');
    expect((error as HarnessError).hint).toContain('remove the OpenTelemetryExporter');
    expect(second.started).toBe(false);
    expect(first.started).toBe(true);
  });

  it('names the package to install when the SDK is missing', async () => {
    const missing = async (specifier: string) => {
      if (specifier.includes('exporter')) {
        throw Object.assign(new Error(`Cannot find package '${specifier}'`), {
          code: 'ERR_MODULE_NOT_FOUND',
        });
      }
      return import(specifier);
    };
    const error = await loadTraceSdk('http/protobuf', missing).catch((e: unknown) => e);
    expect(HarnessError.isInstance(error) && error.code).toBe('config_invalid');
    expect((error as HarnessError).message).toBe(
      'OpenTelemetryExporter needs @opentelemetry/exporter-trace-otlp-proto, which is not installed',
    );
    expect((error as HarnessError).hint).toContain('npm install');
    expect((error as HarnessError).hint).toContain('@opentelemetry/exporter-trace-otlp-proto');
  });

  it('validates its options and never shows header values', () => {
    const bad = (options: object) => {
      try {
        new OpenTelemetryExporter(options as never);
      } catch (e) {
        return e as HarnessError;
      }
      throw new Error('accepted');
    };
    expect(bad({ protocol: 'grpc' }).location?.path).toBe('OpenTelemetryExporter.protocol');
    expect(bad({ protocol: 'grpc' }).message).toContain('gRPC is not supported');
    expect(bad({ endpoint: 'not a url' }).location?.path).toBe('OpenTelemetryExporter.endpoint');
    const e = new OpenTelemetryExporter({ headers: { authorization: 'Bearer secret-token' } });
    expect(e.protocol).toBe('http/protobuf');
    expect(e.endpoint).toBe('http://localhost:4318/v1/traces');
    expect(JSON.stringify(e)).not.toContain('secret-token');
  });
});
