import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { oneLine } from '../errors.ts';
import { serveStatic } from './static.ts';
import { requestToken, type Principal } from './tokens.ts';

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** A path with :params, e.g. /api/labs/:lab/tasks */
  path: string;
  /** Who may call it; undefined = anyone. */
  role?: Principal['role'] | Principal['role'][] | 'any';
  handler: (ctx: RequestContext) => Promise<unknown> | unknown;
}

export interface SocketRoute {
  path: string;
  role?: Principal['role'] | Principal['role'][] | 'any';
  handler: (ws: WebSocket, ctx: RequestContext) => void;
}

export interface RequestContext {
  req: IncomingMessage;
  url: URL;
  params: Record<string, string>;
  principal?: Principal;
  body: () => Promise<unknown>;
}

/** An error with an HTTP status; its message is shown to the caller. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function match(pattern: string, path: string): Record<string, string> | undefined {
  const p = pattern.split('/');
  const a = path.split('/');
  if (p.length !== a.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i]!.startsWith(':')) params[p[i]!.slice(1)] = decodeURIComponent(a[i]!);
    else if (p[i] !== a[i]) return undefined;
  }
  return params;
}

const MAX_BODY = 256 * 1024;

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, 'request body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text) return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new HttpError(400, 'request body is not valid JSON'));
      }
    });
    req.on('error', reject);
  });
}

export interface AppOptions {
  routes: Route[];
  sockets: SocketRoute[];
  /** Who a bearer token belongs to (undefined: nobody). */
  resolve: (token: string | undefined) => Principal | undefined;
  /** The built lesson site; undefined = API only. */
  siteDir?: string;
  log?: (msg: string) => void;
}

function allowed(role: Route['role'], p: Principal | undefined): boolean {
  if (role === undefined) return true;
  if (!p) return false;
  return role === 'any' || (Array.isArray(role) ? role.includes(p.role) : p.role === role);
}

export interface App {
  server: Server;
  /** Stops listening and closes every connection, WebSockets included. */
  close(): Promise<void>;
}

/** The runner's HTTP + WebSocket server: JSON routes under /api, the lesson site elsewhere. */
export function createApp(opts: AppOptions): App {
  const log = opts.log ?? (() => {});
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    try {
      if (url.pathname.startsWith('/api/')) {
        const principal = opts.resolve(requestToken(req.headers, url));
        for (const r of opts.routes) {
          if (r.method !== req.method) continue;
          const params = match(r.path, url.pathname);
          if (!params) continue;
          if (!allowed(r.role, principal)) throw new HttpError(principal ? 403 : 401, principal ? 'not allowed for this token' : 'a valid token is required');
          const out = await r.handler({ req, url, params, principal, body: () => readBody(req) });
          return json(200, out ?? { ok: true });
        }
        throw new HttpError(404, `no such API route: ${req.method} ${url.pathname}`);
      }
      if (!opts.siteDir) throw new HttpError(404, 'no lesson site is served');
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'method not allowed');
      serveStatic(opts.siteDir, req, res, url.pathname);
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) log(`error on ${req.method} ${url.pathname}: ${oneLine(err)}`);
      if (!res.headersSent) json(status, { error: err instanceof HttpError ? err.message : oneLine(err) });
      else res.end();
    }
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const refuse = (status: number, text: string) => {
      socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      socket.destroy();
    };
    const route = opts.sockets.find((s) => s.path === url.pathname);
    if (!route) return refuse(404, 'Not Found');
    const principal = opts.resolve(requestToken(req.headers, url));
    if (!allowed(route.role, principal)) return refuse(principal ? 403 : 401, principal ? 'Forbidden' : 'Unauthorized');
    wss.handleUpgrade(req, socket, head, (ws) => {
      try {
        route.handler(ws, { req, url, params: {}, principal, body: async () => ({}) });
      } catch (err) {
        log(`socket ${url.pathname}: ${oneLine(err)}`);
        ws.close(1011, 'server error');
      }
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  return {
    server,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
    },
  };
}
