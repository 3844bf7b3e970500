// A service port's TCP proxy socket (upstream tcpProxySocket): every connection the portal
// rules redirect here is answered by the proxy, which opens a second connection to an
// endpoint the balancer picks, from the node's own address, and copies bytes both ways.
// An endpoint that does not accept is skipped for the next one in turn (upstream
// tryConnect: 4 tries, 250 ms to 2 s each). With no endpoint at all the client's
// connection is closed at once, as upstream did: the proxy had already accepted it.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { splitEndpoint, type PickEndpoint, type ProxySocket } from './socket.ts';

/** Upstream endpointDialTimeout: one entry per try. */
export const DIAL_TIMEOUTS_MS = [250, 500, 1000, 2000];

export interface TcpProxySocketOptions {
  name: string;
  pick: PickEndpoint;
  log: (line: string) => void;
  dialTimeoutsMs?: number[];
}

function dial(endpoint: string, timeoutMs: number): Promise<Socket> {
  const { host, port } = splitEndpoint(endpoint);
  return new Promise((resolve, reject) => {
    const out = createConnection({ host, port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      out.destroy();
      reject(new Error(`dial tcp ${endpoint}: i/o timeout`));
    }, timeoutMs);
    out.once('connect', () => {
      clearTimeout(timer);
      out.removeAllListeners('error');
      resolve(out);
    });
    out.once('error', (err) => {
      clearTimeout(timer);
      out.destroy();
      reject(new Error(`dial tcp ${endpoint}: ${err.message}`));
    });
  });
}

export function clientIP(address: string | undefined): string {
  return (address ?? '').replace(/^::ffff:/, '');
}

export class TcpProxySocket implements ProxySocket {
  private readonly connections = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static listen(host: string, port: number, o: TcpProxySocketOptions): Promise<TcpProxySocket> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', reject);
        const sock = new TcpProxySocket(server, (server.address() as { port: number }).port);
        server.on('connection', (c) =>
          sock.proxy(c, o).catch((err: Error) => {
            c.destroy();
            o.log(`${o.name}: proxying a connection failed: ${err.message}`);
          }),
        );
        server.on('error', (err) => o.log(`accept failed on ${o.name}: ${err.message}`));
        resolve(sock);
      });
    });
  }

  private track(s: Socket): void {
    this.connections.add(s);
    s.once('close', () => this.connections.delete(s));
  }

  private async connectToEndpoint(client: string, o: TcpProxySocketOptions): Promise<Socket | null> {
    let reset = false;
    for (const timeout of o.dialTimeoutsMs ?? DIAL_TIMEOUTS_MS) {
      const endpoint = o.pick(client, reset);
      if (endpoint === null) {
        o.log(`couldn't find an endpoint for ${o.name}: missing endpoints`);
        return null;
      }
      try {
        return await dial(endpoint, timeout);
      } catch (err) {
        o.log(`${o.name}: ${(err as Error).message}`);
        reset = true;
      }
    }
    o.log(`${o.name}: failed to connect to an endpoint`);
    return null;
  }

  private async proxy(inConn: Socket, o: TcpProxySocketOptions): Promise<void> {
    this.track(inConn);
    inConn.on('error', () => inConn.destroy());
    const out = await this.connectToEndpoint(clientIP(inConn.remoteAddress), o);
    if (!out) {
      inConn.destroy();
      return;
    }
    if (inConn.destroyed) {
      out.destroy();
      return;
    }
    this.track(out);
    // Half-closes travel through (each end() ends the other side's writing); a reset or a
    // full close on one side closes the other.
    out.on('error', () => out.destroy());
    inConn.once('close', () => out.destroy());
    out.once('close', () => inConn.destroy());
    inConn.pipe(out);
    out.pipe(inConn);
    inConn.resume();
  }

  /**
   * Stops accepting. Like upstream, connections in progress are left alone unless
   * `connections` is "close" (the proxy is stopping).
   */
  close(connections: 'keep' | 'close' = 'keep'): Promise<void> {
    if (connections === 'close') for (const c of this.connections) c.destroy();
    return new Promise((resolve) => {
      // The callback waits for the connections; kept ones may last long after this.
      this.server.close(() => resolve());
      if (connections === 'keep') resolve();
    });
  }

  endpointsRemoved(): void {
    // Upstream leaves established TCP connections to a removed endpoint alone.
  }

  get activeConnections(): number {
    return this.connections.size;
  }
}
