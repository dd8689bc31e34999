/**
 * MCP servers as skills (`@modelcontextprotocol/sdk`): every tool of a server becomes a skill
 * named `<server>_<tool>`, over stdio (a child process) or streamable HTTP. A server that dies
 * is reconnected on the next call (stdio: the process is spawned again), with backoff and within
 * `connectTimeoutMs`; a server that never starts is an `mcp_error` naming it, its command or URL
 * and the tail of its stderr. Nothing a server does can crash the harness process: transport and
 * child errors are recorded, never thrown from an event.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { jsonSchema } from 'ai';
import { HarnessError } from '../errors.ts';
import { type AnySkill, type SkillContext, type SkillSource, skillNamePattern } from '../runtime/skill.ts';

/** How to reach an MCP server: `command` (stdio) or `url` (streamable HTTP), not both. */
export interface McpServerOptions {
  /** Names the server in errors and prefixes its skills (`<name>_<tool>`). A letter first, then letters, digits, `_` or `-`. */
  name: string;
  /** stdio: the program to start, e.g. `node` or `npx`. */
  command?: string;
  /** stdio: its arguments. */
  args?: string[];
  /**
   * stdio: environment variables for the server, on top of a minimal safe set (PATH, HOME,
   * USER, SHELL, TERM, LOGNAME): the harness's own environment (and its secrets) is not passed on.
   */
  env?: Record<string, string>;
  /** stdio: the working folder (default: the harness process's). */
  cwd?: string;
  /** streamable HTTP: the endpoint, e.g. `http://127.0.0.1:3001/mcp`. */
  url?: string;
  /** streamable HTTP: headers sent with every request (e.g. Authorization). */
  headers?: Record<string, string>;
  /**
   * How long one connect (first start or reconnect, retries with backoff included) may take, in
   * milliseconds (default 10 000).
   */
  connectTimeoutMs?: number;
  /** How long one tool call may take, in milliseconds (default 60 000). */
  callTimeoutMs?: number;
}

/** Defaults of {@link McpServerOptions}. */
export const mcpDefaults = { connectTimeoutMs: 10_000, callTimeoutMs: 60_000 } as const;

/** Bytes of a server's stderr kept for error messages. */
const stderrTailBytes = 4096;
/** First and largest pause between connect attempts, in milliseconds. */
const firstBackoffMs = 50;
const maxBackoffMs = 1000;
/** Most tools listed (pages of `tools/list` followed), so a broken server cannot loop forever. */
const maxToolPages = 100;

/** The parts of the SDK this module uses, imported on first connect (the SDK is large). */
interface Sdk {
  Client: typeof import('@modelcontextprotocol/sdk/client/index.js').Client;
  StdioClientTransport: typeof import('@modelcontextprotocol/sdk/client/stdio.js').StdioClientTransport;
  getDefaultEnvironment: typeof import('@modelcontextprotocol/sdk/client/stdio.js').getDefaultEnvironment;
  StreamableHTTPClientTransport: typeof import('@modelcontextprotocol/sdk/client/streamableHttp.js').StreamableHTTPClientTransport;
  StreamableHTTPError: typeof import('@modelcontextprotocol/sdk/client/streamableHttp.js').StreamableHTTPError;
  McpError: typeof import('@modelcontextprotocol/sdk/types.js').McpError;
  connectionClosed: number;
}

let sdkPromise: Promise<Sdk> | undefined;

function loadSdk(): Promise<Sdk> {
  sdkPromise ??= Promise.all([
    import('@modelcontextprotocol/sdk/client/index.js'),
    import('@modelcontextprotocol/sdk/client/stdio.js'),
    import('@modelcontextprotocol/sdk/client/streamableHttp.js'),
    import('@modelcontextprotocol/sdk/types.js'),
  ]).then(([client, stdio, http, types]) => ({
    Client: client.Client,
    StdioClientTransport: stdio.StdioClientTransport,
    getDefaultEnvironment: stdio.getDefaultEnvironment,
    StreamableHTTPClientTransport: http.StreamableHTTPClientTransport,
    StreamableHTTPError: http.StreamableHTTPError,
    McpError: types.McpError,
    connectionClosed: types.ErrorCode.ConnectionClosed,
  }));
  return sdkPromise;
}

/**
 * An MCP server as a {@link SkillSource}: `load()` connects and returns one skill per tool;
 * `close()` disconnects (and stops a stdio server).
 *
 * @example
 * const files = mcpServer({ name: 'files', command: 'node', args: ['server.js'] });
 * new Harness({ models, councils, skills: [files] }); // agents use skills such as files_read
 *
 * @throws HarnessError `config_invalid` for a bad name, neither or both of `command` and `url`,
 * a URL that is not http(s), or a timeout that is not a positive whole number.
 */
export function mcpServer(options: McpServerOptions): McpSkillSource {
  return new McpSkillSource(options);
}

/** A connected (or connectable) MCP server; see {@link mcpServer}. */
export class McpSkillSource implements SkillSource {
  readonly name: string;
  readonly options: Readonly<McpServerOptions>;
  readonly #connectTimeoutMs: number;
  readonly #callTimeoutMs: number;
  #client: Client | undefined;
  #connecting: Promise<Client> | undefined;
  #closed = false;
  #stderr = '';
  #lastError: unknown;
  #connects = 0;

  constructor(options: McpServerOptions) {
    const where = (field: string) => ({ path: `mcpServer(${JSON.stringify(options.name)}).${field}` });
    if (typeof options.name !== 'string' || !skillNamePattern.test(options.name)) {
      throw new HarnessError('config_invalid', `invalid MCP server name ${JSON.stringify(options.name)}`, {
        location: { path: 'mcpServer.name' },
        hint: 'use a letter first, then letters, digits, _ or -; the tools become skills named <name>_<tool>',
      });
    }
    if ((options.command === undefined) === (options.url === undefined)) {
      throw new HarnessError(
        'config_invalid',
        `MCP server "${options.name}" needs exactly one of command (stdio) and url (streamable HTTP)`,
        {
          location: where(options.command === undefined ? 'command' : 'url'),
          hint: 'give command: "node" with args: [...] for a local server, or url: "http://host:port/mcp"',
        },
      );
    }
    if (options.command !== undefined && options.command.trim() === '') {
      throw new HarnessError('config_invalid', `MCP server "${options.name}" has an empty command`, {
        location: where('command'),
        hint: 'name the program to start, e.g. command: "node"',
      });
    }
    if (options.url !== undefined && !/^https?:$/.test(safeUrl(options.url)?.protocol ?? '')) {
      throw new HarnessError('config_invalid', `MCP server "${options.name}" has a bad url ${options.url}`, {
        location: where('url'),
        hint: 'write an absolute http(s) URL, e.g. http://127.0.0.1:3001/mcp',
      });
    }
    for (const field of ['connectTimeoutMs', 'callTimeoutMs'] as const) {
      const value = options[field];
      if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0)) {
        throw new HarnessError('config_invalid', `${field} of MCP server "${options.name}" must be > 0 ms`, {
          location: where(field),
          hint: `give a whole number of milliseconds, e.g. ${mcpDefaults[field]}`,
        });
      }
    }
    this.name = options.name;
    this.options = { ...options };
    this.#connectTimeoutMs = options.connectTimeoutMs ?? mcpDefaults.connectTimeoutMs;
    this.#callTimeoutMs = options.callTimeoutMs ?? mcpDefaults.callTimeoutMs;
  }

  /** True while a connection is open (false before `load`, after the server died, after `close`). */
  get connected(): boolean {
    return this.#client !== undefined;
  }

  /** Successful connections so far: 1 after `load`, one more per reconnect. */
  get connects(): number {
    return this.#connects;
  }

  /**
   * Connects (unless connected) and returns one skill per tool: named `<server>_<tool>`
   * (characters other than letters, digits, `_` and `-` become `_`), with the tool's JSON Schema
   * as input and its text content as output.
   *
   * @throws HarnessError `mcp_error` when the server does not start or cannot list its tools.
   */
  async load(signal?: AbortSignal): Promise<AnySkill[]> {
    this.#closed = false;
    const client = await this.#connect(signal);
    const tools: Tool[] = [];
    try {
      let cursor: string | undefined;
      for (let page = 0; page < maxToolPages; page++) {
        const listed = await client.listTools(cursor === undefined ? {} : { cursor }, {
          timeout: this.#callTimeoutMs,
          ...(signal === undefined ? {} : { signal }),
        });
        tools.push(...listed.tools);
        cursor = listed.nextCursor;
        if (cursor === undefined) break;
      }
    } catch (error) {
      if (signal?.aborted) throw aborted(this.name, signal);
      throw new HarnessError(
        'mcp_error',
        `MCP server "${this.name}" could not list its tools: ${reason(error)}`,
        {
          cause: error,
          hint: 'check that the server implements tools/list (the MCP tools capability)',
          details: this.#facts(),
        },
      );
    }
    const version = client.getServerVersion()?.version ?? '1.0.0';
    const used = new Set<string>();
    return tools.map((tool) =>
      this.#skillFor(tool, uniqueName(mcpSkillName(this.name, tool.name), used), version),
    );
  }

  /** Disconnects; a stdio server is asked to exit (stdin closed, then SIGTERM, then SIGKILL). */
  async close(): Promise<void> {
    this.#closed = true;
    const connecting = this.#connecting;
    const client = this.#client;
    this.#client = undefined;
    await Promise.all([
      client === undefined ? undefined : closeClient(client),
      connecting?.then(closeClient, () => undefined),
    ]);
  }

  #skillFor(tool: Tool, name: string, version: string): AnySkill {
    const description =
      tool.description ?? tool.title ?? `The ${tool.name} tool of the ${this.name} MCP server.`;
    return {
      name,
      description,
      version,
      // The tool's own JSON Schema goes to the model unchanged; the server validates the arguments.
      inputSchema: jsonSchema({ type: 'object', ...(tool.inputSchema as object) }),
      run: (input: never, context: SkillContext) => this.#call(tool.name, input, context.signal),
    };
  }

  /** Calls a tool, reconnecting first when the server is gone. */
  async #call(tool: string, input: unknown, signal: AbortSignal): Promise<string> {
    if (this.#closed) {
      throw new HarnessError('mcp_error', `MCP server "${this.name}" was closed`, {
        hint: 'the harness was stopped; build a new one (or call load() again) to use this server',
        details: this.#facts(),
      });
    }
    const sdk = await loadSdk();
    for (let attempt = 1; ; attempt++) {
      const client = await this.#connect(signal);
      let result: CallToolResult;
      try {
        // A signal of its own per call: the SDK adds an abort listener that it never removes.
        result = (await client.callTool(
          { name: tool, arguments: (input ?? {}) as Record<string, unknown> },
          undefined,
          { signal: AbortSignal.any([signal]), timeout: this.#callTimeoutMs },
        )) as CallToolResult;
      } catch (error) {
        if (signal.aborted) throw aborted(this.name, signal, tool);
        if (attempt === 1 && notDelivered(sdk, error)) {
          // The request never reached a live server (connection refused, session unknown to a
          // restarted server): reconnect and send it once more; it cannot have run twice.
          this.#drop(client);
          continue;
        }
        if (connectionLost(sdk, error)) {
          this.#drop(client);
          throw new HarnessError(
            'skill_failed',
            `MCP server "${this.name}" went away during the call to ${tool} (it may or may not have run): ${reason(error)}`,
            {
              cause: error,
              isRetryable: true,
              hint: 'the next call reconnects; call again if the tool is safe to repeat',
              details: { server: this.name, tool },
            },
          );
        }
        throw new HarnessError(
          'skill_failed',
          `MCP tool ${tool} of "${this.name}" failed: ${reason(error)}`,
          {
            cause: error,
            details: { server: this.name, tool },
          },
        );
      }
      const text = toolText(result);
      if (result.isError === true) {
        throw new HarnessError(
          'skill_failed',
          `MCP tool ${tool} of "${this.name}" reported an error: ${text}`,
          {
            details: { server: this.name, tool },
          },
        );
      }
      return text;
    }
  }

  /** The open connection, or a new one (one attempt at a time, shared by concurrent callers). */
  async #connect(signal: AbortSignal | undefined): Promise<Client> {
    if (this.#client !== undefined) return this.#client;
    this.#connecting ??= this.#connectWithBackoff().finally(() => {
      this.#connecting = undefined;
    });
    return await untilAborted(this.#connecting, signal, this.name);
  }

  /** Tries to connect until it works or `connectTimeoutMs` has passed, pausing 50 ms, 100 ms, … 1 s between tries. */
  async #connectWithBackoff(): Promise<Client> {
    const sdk = await loadSdk();
    const deadline = Date.now() + this.#connectTimeoutMs;
    let pause = firstBackoffMs;
    let attempts = 0;
    for (;;) {
      attempts++;
      try {
        const client = await this.#connectOnce(sdk, Math.max(1, deadline - Date.now()));
        if (this.#closed) {
          await closeClient(client);
          throw new HarnessError('mcp_error', `MCP server "${this.name}" was closed while connecting`, {
            details: this.#facts(),
          });
        }
        this.#client = client;
        this.#connects++;
        return client;
      } catch (error) {
        if (HarnessError.isInstance(error)) throw error;
        this.#lastError = error;
        // A stdio server that exits before it ever answered is misconfigured (its stderr says
        // why): waiting would not help. Once it has worked, an exit is retried (a restart).
        const exitedAtStart =
          this.#connects === 0 &&
          this.options.command !== undefined &&
          error instanceof sdk.McpError &&
          error.code === sdk.connectionClosed;
        if (exitedAtStart || permanent(sdk, error) || Date.now() + pause >= deadline) {
          // The stderr of a process that just exited may still be in its pipe: read it first.
          await new Promise((resolve) => setImmediate(resolve));
          throw this.#startError(error, attempts);
        }
        await new Promise((resolve) => setTimeout(resolve, pause));
        pause = Math.min(pause * 2, maxBackoffMs);
      }
    }
  }

  async #connectOnce(sdk: Sdk, timeoutMs: number): Promise<Client> {
    const { command, url } = this.options;
    let transport: Transport;
    if (command !== undefined) {
      const stdio = new sdk.StdioClientTransport({
        command,
        args: [...(this.options.args ?? [])],
        env: { ...sdk.getDefaultEnvironment(), ...(this.options.env ?? {}) },
        ...(this.options.cwd === undefined ? {} : { cwd: this.options.cwd }),
        stderr: 'pipe',
      });
      this.#stderr = '';
      stdio.stderr?.on('data', (chunk: Buffer | string) => {
        this.#stderr = (this.#stderr + chunk.toString()).slice(-stderrTailBytes);
      });
      // An 'error' event without a listener would throw in the harness process.
      stdio.stderr?.on('error', (error) => {
        this.#lastError = error;
      });
      transport = stdio;
    } else {
      transport = new sdk.StreamableHTTPClientTransport(new URL(url as string), {
        ...(this.options.headers === undefined
          ? {}
          : { requestInit: { headers: { ...this.options.headers } } }),
      });
    }
    const client = new sdk.Client({ name: 'forge-harness', version: '1' }, { capabilities: {} });
    // Errors of a live connection (a broken pipe, an SSE stream that dropped) are recorded, not
    // thrown: the next call finds out and reconnects.
    client.onerror = (error) => {
      this.#lastError = error;
    };
    client.onclose = () => {
      if (this.#client === client) this.#client = undefined;
    };
    try {
      await client.connect(transport, { timeout: timeoutMs });
    } catch (error) {
      await closeClient(client);
      throw error;
    }
    return client;
  }

  /** Forgets a connection that failed and closes it (its timers and process go with it). */
  #drop(client: Client): void {
    if (this.#client === client) this.#client = undefined;
    void closeClient(client);
  }

  #startError(error: unknown, attempts: number): HarnessError {
    const { command, url } = this.options;
    const target =
      command === undefined ? `url ${url}` : `command: ${[command, ...(this.options.args ?? [])].join(' ')}`;
    const stderr = this.#stderr.trim();
    const tail = stderr === '' ? '' : `\nstderr (last lines):\n${stderr.split('\n').slice(-10).join('\n')}`;
    const tries = attempts === 1 ? '' : ` (${attempts} attempts within ${this.#connectTimeoutMs} ms)`;
    return new HarnessError(
      'mcp_error',
      `MCP server "${this.name}" (${target}) did not start: ${reason(error)}${tries}${tail}`,
      {
        cause: error,
        isRetryable: !permanentErrno(error),
        hint:
          command === undefined
            ? `check that an MCP server (streamable HTTP) is listening at ${url}, and the headers it needs`
            : `check that \`${[command, ...(this.options.args ?? [])].join(' ')}\` runs on its own${this.options.cwd === undefined ? '' : ` in ${this.options.cwd}`} and speaks MCP on stdin/stdout (logs go to stderr)`,
        details: { ...this.#facts(), attempts, ...(stderr === '' ? {} : { stderr }) },
      },
    );
  }

  /** Secret-free facts for error details: never the env values or headers. */
  #facts(): Record<string, unknown> {
    const { command, args, url, cwd } = this.options;
    return {
      server: this.name,
      ...(command === undefined ? {} : { command, args: [...(args ?? [])] }),
      ...(cwd === undefined ? {} : { cwd }),
      ...(url === undefined ? {} : { url }),
      ...(this.#lastError === undefined ? {} : { lastError: reason(this.#lastError) }),
    };
  }
}

/**
 * The skill name of an MCP tool: `<server>_<tool>`, characters other than letters, digits, `_`
 * and `-` replaced by `_`, cut to 64 characters.
 */
export function mcpSkillName(server: string, tool: string): string {
  const name = `${server}_${tool}`.replace(/[^\w-]/g, '_');
  return (/^[A-Za-z]/.test(name) ? name : `m${name}`).slice(0, 64);
}

/** `name`, or `name_2`, `name_3`, … when two tools of a server sanitise to the same name. */
function uniqueName(name: string, used: Set<string>): string {
  let candidate = name;
  for (let n = 2; used.has(candidate); n++) candidate = `${name.slice(0, 60)}_${n}`;
  used.add(candidate);
  return candidate;
}

/**
 * The text a model gets from a tool result: its text parts, one per line; other parts are
 * named (`[image image/png]`, `[resource file:///x]`) or, when a result has no text at all,
 * its structured content as JSON.
 */
export function toolText(result: CallToolResult | { toolResult: unknown }): string {
  if ('toolResult' in result) return JSON.stringify(result.toolResult);
  const parts: string[] = [];
  let hasText = false;
  for (const part of result.content ?? []) {
    if (part.type === 'text') {
      hasText = true;
      parts.push(part.text);
    } else if (part.type === 'image' || part.type === 'audio') {
      parts.push(`[${part.type} ${part.mimeType}]`);
    } else if (part.type === 'resource') {
      const resource = part.resource as { uri: string; text?: string };
      if (typeof resource.text === 'string') {
        hasText = true;
        parts.push(resource.text);
      } else parts.push(`[resource ${resource.uri}]`);
    } else if (part.type === 'resource_link') {
      parts.push(`[resource ${part.uri}]`);
    }
  }
  if (!hasText && result.structuredContent !== undefined) return JSON.stringify(result.structuredContent);
  return parts.join('\n');
}

function safeUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

function reason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = errnoOf(error);
  return code !== undefined && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
}

/** The first errno-style `code` (ECONNREFUSED, ENOENT, …) along the cause chain. */
function errnoOf(error: unknown): string | undefined {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A program that cannot be started: no retry helps. */
function permanentErrno(error: unknown): boolean {
  const code = errnoOf(error);
  return code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR' || code === 'EISDIR';
}

/** Start failures that do not heal by waiting: a missing program, an HTTP 4xx (wrong path, auth). */
function permanent(sdk: Sdk, error: unknown): boolean {
  if (permanentErrno(error)) return true;
  if (error instanceof sdk.StreamableHTTPError) {
    const status = error.code ?? 0;
    return status >= 400 && status < 500 && status !== 408 && status !== 429;
  }
  return false;
}

/** A call that certainly did not reach a live server, so sending it again runs it once. */
function notDelivered(sdk: Sdk, error: unknown): boolean {
  // 404 is how a streamable HTTP server answers a session it does not know (it restarted).
  if (error instanceof sdk.StreamableHTTPError) return error.code === 404;
  return errnoOf(error) === 'ECONNREFUSED';
}

/** The connection broke: the next call must reconnect. */
function connectionLost(sdk: Sdk, error: unknown): boolean {
  if (error instanceof sdk.McpError) return error.code === sdk.connectionClosed;
  if (error instanceof sdk.StreamableHTTPError) return false;
  // fetch() fails with a TypeError whose cause is the socket error.
  return errnoOf(error) !== undefined || (error instanceof TypeError && error.cause !== undefined);
}

function aborted(server: string, signal: AbortSignal, tool?: string): HarnessError {
  return new HarnessError(
    'aborted',
    tool === undefined
      ? `connecting to MCP server "${server}" was aborted`
      : `MCP tool ${tool} of "${server}" was aborted`,
    { cause: signal.reason },
  );
}

async function closeClient(client: Client): Promise<void> {
  try {
    await client.close();
  } catch {
    // Closing a connection whose server is already gone may fail; there is nothing left to free.
  }
}

/** `promise`, or an `aborted` error as soon as `signal` fires (the promise itself goes on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined, server: string): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(aborted(server, signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted(server, signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
