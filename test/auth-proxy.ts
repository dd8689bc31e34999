// A tiny HTTP proxy in front of FakeProviderServer that checks API keys the way a vendor does: a
// request whose key (`Authorization: Bearer` or `x-api-key`) is not accepted gets a 401 in the
// OpenAI error shape, echoing the key as some vendors do (so redaction is tested too); others are
// forwarded, streams included. The accepted keys change while a test runs (a revocation).
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AuthProxy {
  /** `http://127.0.0.1:PORT`; use `${url}/v1` as an OpenAI or Anthropic endpoint. */
  url: string;
  /** Keys let through now. */
  accepted: Set<string>;
  /** Requests refused with 401, and forwarded, per key. */
  refused: Map<string, number>;
  forwarded: Map<string, number>;
  close(): Promise<void>;
}

function keyOf(req: IncomingMessage): string {
  const bearer = req.headers.authorization;
  if (typeof bearer === 'string' && bearer.startsWith('Bearer ')) return bearer.slice(7);
  const header = req.headers['x-api-key'];
  return typeof header === 'string' ? header : '';
}

const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

/** Starts the proxy in front of `target` (the fake server's `url`). */
export async function startAuthProxy(target: string, accepted: Iterable<string>): Promise<AuthProxy> {
  const proxy = {
    accepted: new Set(accepted),
    refused: new Map<string, number>(),
    forwarded: new Map<string, number>(),
  };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const key = keyOf(req);
    if (!proxy.accepted.has(key)) {
      bump(proxy.refused, key);
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: {
            message: `Incorrect API key provided: ${key}.`,
            type: 'invalid_request_error',
            code: 'invalid_api_key',
          },
        }),
      );
      return;
    }
    bump(proxy.forwarded, key);
    try {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === 'string' && !['host', 'content-length', 'connection'].includes(name))
          headers[name] = value;
      }
      const upstream = await fetch(`${target}${req.url ?? '/'}`, {
        method: req.method ?? 'POST',
        headers,
        ...(chunks.length === 0 ? {} : { body: Buffer.concat(chunks) }),
      });
      const out: Record<string, string> = {};
      upstream.headers.forEach((value, name) => {
        if (!['content-length', 'transfer-encoding', 'connection', 'content-encoding'].includes(name))
          out[name] = value;
      });
      res.writeHead(upstream.status, out);
      if (upstream.body) for await (const chunk of upstream.body) res.write(chunk);
      res.end();
    } catch {
      // The fake cut the connection (a fault): cut ours too.
      res.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    ...proxy,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
