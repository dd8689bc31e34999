/**
 * A real local HTTP server that speaks the wire formats of OpenAI (chat completions, responses,
 * embeddings), Anthropic (messages), Google (generateContent) and OpenAI-compatible servers, so the
 * real AI SDK provider packages run against it through `baseURL` — no API key, no network. It
 * answers scripted replies (else `fake reply to: <last user text>`), injects faults (HTTP errors in
 * each vendor's error shape, latency, hangs, resets, cut streams, malformed JSON), counts requests
 * and records them with credentials redacted. A control API on the same port drives it from
 * another process.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HarnessError } from '../errors.ts';
import {
  type FakeCounters,
  type FakeFamily,
  type FakeMatch,
  type FakeReply,
  type FakeRoute,
  type FaultSpec,
  fakeFamilies,
  fakeRoutes,
  faultKind,
  parseFaultSpec,
  parseReplyRequest,
  type RecordedRequest,
  redactedValue,
} from './fake-provider-spec.ts';
import { anthropicWire } from './fake-wire/anthropic.ts';
import {
  estimateTokens,
  fakeId,
  malform,
  type ParsedRequest,
  type RenderContext,
  type ResolvedReply,
  rateLimitHeaders,
  type SseEvent,
  type WireFormat,
} from './fake-wire/common.ts';
import { googleWire, parseGooglePath } from './fake-wire/google.ts';
import { openaiChatWire } from './fake-wire/openai-chat.ts';
import { embeddingsBody, parseEmbeddingsRequest } from './fake-wire/openai-embeddings.ts';
import { openaiResponsesWire } from './fake-wire/openai-responses.ts';

/** Where the fake provider server listens. */
export interface FakeProviderServerOptions {
  /** TCP port; default 0 (the OS picks a free one, read it from `url`). */
  port?: number;
  /** Interface to bind; default `127.0.0.1`. */
  host?: string;
  /** Recorded requests kept, oldest dropped first; default 1000. */
  maxRecordedRequests?: number;
}

/** Request bodies above this size (bytes) are refused with 413. */
const maxBodyBytes = 32 * 1024 * 1024;

/** Header values the server must never keep (lower-case names). */
const secretHeaders = new Set([
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'x-goog-api-key',
  'api-key',
  'cookie',
]);

interface RouteInfo {
  route: FakeRoute;
  family: FakeFamily;
  wire: WireFormat | undefined;
}

interface QueuedReply {
  reply: FakeReply;
  match: FakeMatch | undefined;
}

interface QueuedFault {
  fault: FaultSpec;
  left: number;
}

function resolveRoute(method: string | undefined, path: string): RouteInfo | undefined {
  if (method !== 'POST') return undefined;
  switch (path) {
    case '/v1/chat/completions':
      return { route: 'openai-chat', family: 'openai', wire: openaiChatWire };
    case '/compat/v1/chat/completions':
      return { route: 'openai-chat', family: 'openai-compatible', wire: openaiChatWire };
    case '/v1/responses':
      return { route: 'openai-responses', family: 'openai', wire: openaiResponsesWire };
    case '/v1/embeddings':
      return { route: 'openai-embeddings', family: 'openai', wire: undefined };
    case '/compat/v1/embeddings':
      return { route: 'openai-embeddings', family: 'openai-compatible', wire: undefined };
    case '/v1/messages':
      return { route: 'anthropic', family: 'anthropic', wire: anthropicWire };
  }
  return parseGooglePath(path) === undefined
    ? undefined
    : { route: 'google', family: 'google', wire: googleWire };
}

function matches(
  match: FakeMatch | undefined,
  family: FakeFamily,
  model: string | undefined,
  path: string,
): boolean {
  if (match === undefined) return true;
  if (match.provider !== undefined && match.provider !== family) return false;
  if (match.model !== undefined && match.model !== model) return false;
  if (match.path !== undefined && match.path !== path) return false;
  return true;
}

function emptyCounters(): FakeCounters {
  return {
    total: 0,
    byRoute: Object.fromEntries(fakeRoutes.map((route) => [route, 0])) as Record<FakeRoute, number>,
    byFamily: Object.fromEntries(fakeFamilies.map((family) => [family, 0])) as Record<FakeFamily, number>,
    byModel: {},
    faultsServed: 0,
  };
}

/** The family's error JSON for a status; embeddings and chat share OpenAI's shape. */
function errorWire(family: FakeFamily): WireFormat {
  if (family === 'anthropic') return anthropicWire;
  if (family === 'google') return googleWire;
  return openaiChatWire;
}

function formatSse(event: SseEvent): string {
  return `${event.event === undefined ? '' : `event: ${event.event}\n`}data: ${event.data}\n\n`;
}

function requestIdHeader(family: FakeFamily, seq: number): Record<string, string> {
  if (family === 'anthropic') return { 'request-id': fakeId('req_', seq) };
  if (family === 'google') return {};
  return { 'x-request-id': fakeId('req_', seq) };
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        resolve(undefined);
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** Writes and resolves once the bytes are handed to the socket, so a following destroy cannot drop them. */
function writeFlushed(res: ServerResponse, text: string): Promise<void> {
  return new Promise((resolve) => {
    res.write(text, () => resolve());
  });
}

function recordHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers[name] = secretHeaders.has(name) ? redactedValue : Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function recordPath(url: URL): string {
  if (url.searchParams.has('key')) url.searchParams.set('key', redactedValue);
  return `${url.pathname}${url.search}`;
}

/**
 * The fake provider server. Start it with {@link FakeProviderServer.start}, give each AI SDK
 * provider `baseURL: server.baseUrl(family)`, and close it in `afterAll`.
 *
 * @example
 * const server = await FakeProviderServer.start();
 * const openai = createOpenAI({ baseURL: server.baseUrl('openai'), apiKey: 'test' });
 * server.injectFault({ status: 429, retryAfterSeconds: 2 });
 * await generateText({ model: openai('gpt-4o'), prompt: 'hi', maxRetries: 0 }); // APICallError 429
 */
export class FakeProviderServer {
  /** `http://HOST:PORT`, without a trailing slash. */
  readonly url: string;
  /** Requests to provider routes, oldest first, credentials redacted. */
  readonly requests: RecordedRequest[] = [];
  readonly #server: Server;
  readonly #maxRecorded: number;
  readonly #replies: QueuedReply[] = [];
  readonly #faults: QueuedFault[] = [];
  /** Cancels every pending latency wait and hang; each returns false to its waiter. */
  readonly #waiters = new Set<() => void>();
  #counters = emptyCounters();
  /** Kept apart from the counters so a model named `__proto__` stays an ordinary key. */
  #byModel = new Map<string, number>();
  #seq = 0;
  #closing: Promise<void> | undefined;

  /** Use {@link FakeProviderServer.start}; the constructor expects a listening server. */
  constructor(server: Server, url: string, maxRecordedRequests: number) {
    this.#server = server;
    this.url = url;
    this.#maxRecorded = maxRecordedRequests;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.#handle(req, res).catch(() => {
        if (!res.headersSent) sendJson(res, 500, { error: { message: 'fake provider server failed' } });
        else res.destroy();
      });
    });
  }

  /** Starts listening (default `127.0.0.1`, a free port) and resolves once it accepts connections. */
  static async start(options: FakeProviderServerOptions = {}): Promise<FakeProviderServer> {
    const host = options.host ?? '127.0.0.1';
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((error: unknown) => {
      throw new HarnessError(
        'internal',
        `fake provider server could not listen on ${host}:${options.port ?? 0}`,
        {
          cause: error,
          hint: 'pick another --port (0 lets the OS choose a free one) or stop the process holding it',
        },
      );
    });
    const address = server.address() as AddressInfo;
    const shown =
      address.address === '0.0.0.0'
        ? '127.0.0.1'
        : address.address === '::'
          ? '[::1]'
          : address.family === 'IPv6'
            ? `[${address.address}]`
            : address.address;
    return new FakeProviderServer(
      server,
      `http://${shown}:${address.port}`,
      options.maxRecordedRequests ?? 1000,
    );
  }

  /** The `baseURL` to give the AI SDK provider of `family`. */
  baseUrl(family: FakeFamily): string {
    switch (family) {
      case 'openai':
        return `${this.url}/v1`;
      case 'anthropic':
        return `${this.url}/v1`;
      case 'google':
        return `${this.url}/v1beta`;
      case 'openai-compatible':
        return `${this.url}/compat/v1`;
    }
  }

  /**
   * Queues a reply. A request takes the first queued reply whose `match` fits it (embeddings never
   * take replies); with none, it gets `fake reply to: <last user text>`.
   * @throws HarnessError `fake_spec_invalid` naming the bad field.
   */
  enqueueReply(reply: FakeReply, match?: FakeMatch): void {
    const parsed = parseReplyRequest(match === undefined ? reply : { ...reply, match });
    this.#replies.push(parsed);
  }

  /**
   * Queues a fault. A request takes the first queued fault whose `match` fits it; the fault is used
   * up after `times` requests (default 1).
   * @throws HarnessError `fake_spec_invalid` naming the bad field.
   */
  injectFault(fault: FaultSpec): void {
    const parsed = parseFaultSpec(fault);
    this.#faults.push({ fault: parsed, left: parsed.times ?? 1 });
  }

  /** A snapshot of the counters. */
  counters(): FakeCounters {
    return { ...structuredClone(this.#counters), byModel: Object.fromEntries(this.#byModel) };
  }

  /** Clears queued replies and faults, counters and recorded requests. Open requests are not touched. */
  reset(): void {
    this.#replies.length = 0;
    this.#faults.length = 0;
    this.requests.length = 0;
    this.#counters = emptyCounters();
    this.#byModel.clear();
    this.#seq = 0;
  }

  /** Stops listening and ends every open request, hanging ones included. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      for (const cancel of [...this.#waiters]) cancel();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }

  /** `await using server = await FakeProviderServer.start()` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    if (url.pathname.startsWith('/_control/')) return this.#control(req, res, url.pathname);
    const info = resolveRoute(req.method, url.pathname);
    if (info === undefined) {
      req.resume();
      sendJson(res, 404, {
        error: {
          message: `the fake provider server has no route ${req.method} ${url.pathname}`,
          type: 'not_found',
        },
      });
      return;
    }

    const raw = await readBody(req);
    const seq = ++this.#seq;
    const ids = requestIdHeader(info.family, seq);
    let body: unknown;
    let bodyOk = raw !== undefined;
    try {
      body = raw === undefined || raw === '' ? undefined : JSON.parse(raw);
    } catch {
      bodyOk = false;
    }
    const parsed = info.wire === undefined ? embeddingsParsed(body) : info.wire.parse(body, url.pathname);
    const model = parsed.model;
    const taken = bodyOk ? this.#takeFault(info.family, model, url.pathname) : undefined;
    this.#record(req, url, info, seq, parsed, bodyOk ? body : undefined, taken);

    if (!bodyOk) {
      const status = raw === undefined ? 413 : 400;
      const message =
        raw === undefined ? 'Request body too large.' : 'We could not parse the JSON body of your request.';
      sendJson(res, status, errorWire(info.family).errorBody(status, message), ids);
      return;
    }

    let cutAfter: number | undefined;
    let malformed = false;
    if (taken !== undefined) {
      if ('status' in taken) {
        const headers: Record<string, string> = { ...ids };
        if (taken.retryAfterSeconds !== undefined)
          headers['retry-after'] = String(Math.ceil(taken.retryAfterSeconds));
        if (taken.rateLimitHeaders !== undefined) {
          Object.assign(
            headers,
            rateLimitHeaders(info.family, taken.rateLimitHeaders, taken.retryAfterSeconds, Date.now()),
          );
        }
        const errorBody = errorWire(info.family).errorBody(
          taken.status,
          taken.message,
          taken.retryAfterSeconds,
        );
        sendJson(res, taken.status, errorBody, headers);
        return;
      }
      if ('reset' in taken) {
        req.socket.destroy();
        return;
      }
      if ('hang' in taken) {
        await this.#pause(res, undefined);
        if (!res.destroyed) res.destroy();
        return;
      }
      if ('latencyMs' in taken && !(await this.#pause(res, taken.latencyMs))) {
        if (!res.destroyed) res.destroy();
        return;
      }
      if ('cutAfterChunks' in taken) cutAfter = taken.cutAfterChunks;
      if ('malformedJson' in taken) malformed = true;
    }

    if (info.wire === undefined) {
      await this.#sendBody(
        res,
        JSON.stringify(embeddingsBody(body, 'text-embedding-fake')),
        ids,
        cutAfter,
        malformed,
      );
      return;
    }
    const context = this.#context(info.family, url.pathname, parsed, seq);
    if (parsed.stream) {
      await this.#sendEvents(res, info.wire.events(context), ids, cutAfter, malformed);
      return;
    }
    await this.#sendBody(res, JSON.stringify(info.wire.json(context)), ids, cutAfter, malformed);
  }

  #takeFault(family: FakeFamily, model: string | undefined, path: string): FaultSpec | undefined {
    const index = this.#faults.findIndex((entry) => matches(entry.fault.match, family, model, path));
    const entry = this.#faults[index];
    if (entry === undefined) return undefined;
    entry.left -= 1;
    if (entry.left <= 0) this.#faults.splice(index, 1);
    return entry.fault;
  }

  #record(
    req: IncomingMessage,
    url: URL,
    info: RouteInfo,
    seq: number,
    parsed: ParsedRequest,
    body: unknown,
    fault: FaultSpec | undefined,
  ): void {
    const counters = this.#counters;
    counters.total += 1;
    counters.byRoute[info.route] += 1;
    counters.byFamily[info.family] += 1;
    if (parsed.model !== undefined)
      this.#byModel.set(parsed.model, (this.#byModel.get(parsed.model) ?? 0) + 1);
    if (fault !== undefined) counters.faultsServed += 1;
    this.requests.push({
      seq,
      route: info.route,
      family: info.family,
      method: req.method ?? 'POST',
      path: recordPath(url),
      model: parsed.model,
      stream: parsed.stream,
      body,
      headers: recordHeaders(req),
      fault: fault === undefined ? undefined : faultKind(fault),
      receivedAt: Date.now(),
    });
    if (this.requests.length > this.#maxRecorded)
      this.requests.splice(0, this.requests.length - this.#maxRecorded);
  }

  #context(family: FakeFamily, path: string, parsed: ParsedRequest, seq: number): RenderContext {
    const index = this.#replies.findIndex((entry) => matches(entry.match, family, parsed.model, path));
    const queued = index === -1 ? undefined : this.#replies.splice(index, 1)[0];
    const reply: FakeReply = queued?.reply ?? { text: `fake reply to: ${parsed.lastUserText}` };
    const toolCalls = (reply.toolCalls ?? []).map((call, i) => ({
      id: fakeId(family === 'anthropic' ? 'toolu_' : 'call_', seq, i),
      name: call.name,
      args: call.args,
      argsJson: JSON.stringify(call.args),
    }));
    const text = reply.text ?? '';
    const outputChars = text.length + toolCalls.reduce((sum, call) => sum + call.argsJson.length, 0);
    const resolved: ResolvedReply = {
      text,
      toolCalls,
      usage: reply.usage ?? {
        inputTokens: Math.max(1, estimateTokens(parsed.promptChars)),
        outputTokens: Math.max(1, estimateTokens(outputChars)),
      },
    };
    return {
      reply: resolved,
      model: parsed.model ?? 'fake-model',
      seq,
      created: Math.floor(Date.now() / 1000),
      includeUsage: parsed.includeUsage,
    };
  }

  async #sendBody(
    res: ServerResponse,
    text: string,
    ids: Record<string, string>,
    cutAfter: number | undefined,
    malformed: boolean,
  ): Promise<void> {
    const body = malformed ? malform(text) : text;
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      ...ids,
    };
    if (cutAfter === undefined) {
      res.writeHead(200, headers);
      res.end(body);
      return;
    }
    // A cut JSON answer: promise the whole body, send half of it, then drop the connection.
    res.writeHead(200, headers);
    await writeFlushed(res, malform(body));
    res.socket?.destroy();
  }

  async #sendEvents(
    res: ServerResponse,
    events: SseEvent[],
    ids: Record<string, string>,
    cutAfter: number | undefined,
    malformed: boolean,
  ): Promise<void> {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      ...ids,
    });
    const sent = cutAfter === undefined ? events : events.slice(0, cutAfter);
    const text = sent
      .map((event, index) =>
        formatSse(malformed && index === 0 ? { ...event, data: malform(event.data) } : event),
      )
      .join('');
    if (cutAfter === undefined) {
      res.end(text);
      return;
    }
    // An SSE comment is no event, but it gets the 200 headers out before a cut after 0 chunks.
    await writeFlushed(res, text === '' ? ': cut\n\n' : text);
    res.socket?.destroy();
  }

  /**
   * Waits `ms` (or forever when undefined). Resolves true when the time elapsed, false when the
   * client went away or the server is closing — and clears its timer either way.
   */
  #pause(res: ServerResponse, ms: number | undefined): Promise<boolean> {
    if (this.#closing !== undefined || res.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (elapsed: boolean) => {
        if (timer !== undefined) clearTimeout(timer);
        res.off('close', onClose);
        this.#waiters.delete(cancel);
        resolve(elapsed);
      };
      const onClose = () => finish(false);
      const cancel = () => finish(false);
      res.on('close', onClose);
      this.#waiters.add(cancel);
      if (ms !== undefined) timer = setTimeout(() => finish(true), ms);
    });
  }

  async #control(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const route = `${req.method} ${path}`;
    if (req.method !== 'POST') req.resume();
    const raw = req.method === 'POST' ? await readBody(req) : '';
    if (route === 'GET /_control/counters') return sendJson(res, 200, this.counters());
    if (route === 'GET /_control/requests') return sendJson(res, 200, this.requests);
    if (route === 'POST /_control/reset') {
      this.reset();
      return sendJson(res, 200, { ok: true });
    }
    if (route !== 'POST /_control/replies' && route !== 'POST /_control/faults') {
      return sendJson(res, 404, {
        error: {
          code: 'not_found',
          message: `no control route ${route}`,
          hint: 'control routes: POST /_control/replies, POST /_control/faults, GET /_control/counters, GET /_control/requests, POST /_control/reset',
        },
      });
    }
    if (raw === undefined) {
      return sendJson(res, 413, {
        error: { code: 'too_large', message: 'control body too large', pointer: '' },
      });
    }
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch (error) {
      return sendJson(res, 400, {
        error: {
          code: 'invalid_json',
          message: `the body of ${route} is not valid JSON: ${(error as Error).message}`,
          pointer: '',
        },
      });
    }
    try {
      if (route === 'POST /_control/replies') {
        const { reply, match } = parseReplyRequest(body);
        this.#replies.push({ reply, match });
        return sendJson(res, 201, { ok: true, queued: this.#replies.length });
      }
      const fault = parseFaultSpec(body);
      this.#faults.push({ fault, left: fault.times ?? 1 });
      return sendJson(res, 201, { ok: true, queued: this.#faults.length });
    } catch (error) {
      if (!HarnessError.isInstance(error)) throw error;
      return sendJson(res, 400, {
        error: {
          code: error.code,
          message: error.message,
          pointer: typeof error.details.pointer === 'string' ? error.details.pointer : '',
          ...(error.hint === undefined ? {} : { hint: error.hint }),
        },
      });
    }
  }
}

function embeddingsParsed(body: unknown): ParsedRequest {
  const { model, inputs } = parseEmbeddingsRequest(body);
  return {
    model,
    stream: false,
    lastUserText: inputs.at(-1) ?? '',
    promptChars: inputs.reduce((sum, input) => sum + input.length, 0),
    includeUsage: false,
  };
}

/** Options of {@link runFakeProviderServer}, as the `forge fake-provider` verb passes them. */
export interface RunFakeProviderServerOptions {
  /** TCP port (0 picks a free one). */
  port: number;
  /** Interface to bind; default `127.0.0.1`. */
  host?: string;
  /** Where the one startup line goes; default stdout. */
  log?: (line: string) => void;
}

/**
 * Starts a {@link FakeProviderServer} and logs one line with its URL, the base URL of every
 * provider family and the control API. The `forge fake-provider --port N` verb calls this.
 */
export async function runFakeProviderServer(
  options: RunFakeProviderServerOptions,
): Promise<FakeProviderServer> {
  const server = await FakeProviderServer.start({
    port: options.port,
    ...(options.host === undefined ? {} : { host: options.host }),
  });
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const bases = fakeFamilies.map((family) => `${family}=${server.baseUrl(family)}`).join(' ');
  log(`fake provider server listening on ${server.url} (${bases}; control API ${server.url}/_control/)`);
  return server;
}
