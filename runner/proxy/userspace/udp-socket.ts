// A service port's UDP proxy socket (upstream udpProxySocket): UDP has no connections, so
// the proxy makes them up: the first datagram from a client address (ip:port) picks an
// endpoint and opens a socket to it; later datagrams from that client go the same way,
// replies come back through the service port's socket, and the pair is forgotten after
// --udp-timeout without traffic either way. Each client address is one "connection",
// so a client that changes its source port may land on another endpoint.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { splitEndpoint, type PickEndpoint, type ProxySocket } from './socket.ts';

/** More clients than this at once on one service port are dropped (each holds a socket). */
export const MAX_UDP_SESSIONS = 4096;

export interface UdpProxySocketOptions {
  name: string;
  pick: PickEndpoint;
  idleTimeoutMs: number;
  log: (line: string) => void;
}

interface Session {
  endpoint: string;
  backend: Socket;
  /** Datagrams that arrived before the backend socket was connected. */
  pending: Buffer[] | null;
  timer?: NodeJS.Timeout;
}

export class UdpProxySocket implements ProxySocket {
  private readonly sessions = new Map<string, Session>();
  private warnedFull = false;
  private closed = false;

  private constructor(
    private readonly sock: Socket,
    readonly port: number,
    private readonly o: UdpProxySocketOptions,
  ) {}

  static listen(host: string, port: number, o: UdpProxySocketOptions): Promise<UdpProxySocket> {
    const sock = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ address: host, port, exclusive: true }, () => {
        sock.off('error', reject);
        const s = new UdpProxySocket(sock, sock.address().port, o);
        sock.on('message', (msg, rinfo) => {
          try {
            s.fromClient(msg, rinfo);
          } catch (err) {
            o.log(`${o.name}: dropping a datagram from ${rinfo.address}:${rinfo.port}: ${(err as Error).message}`);
          }
        });
        sock.on('error', (err) => o.log(`${o.name}: UDP read failed: ${err.message}`));
        resolve(s);
      });
    });
  }

  private fromClient(msg: Buffer, client: RemoteInfo): void {
    const key = `${client.address}:${client.port}`;
    let s = this.sessions.get(key);
    if (!s) {
      if (this.sessions.size >= MAX_UDP_SESSIONS) {
        if (!this.warnedFull) this.o.log(`${this.o.name}: ${MAX_UDP_SESSIONS} UDP clients at once; dropping datagrams from new ones`);
        this.warnedFull = true;
        return;
      }
      const endpoint = this.o.pick(client.address.replace(/^::ffff:/, ''), false);
      if (endpoint === null) return;
      s = this.open(key, client, endpoint);
    }
    this.touch(key, s);
    if (s.pending) s.pending.push(msg);
    else this.send(key, s, () => s.backend.send(msg));
  }

  /** A send on a socket that closed meanwhile throws; that only ends the session. */
  private send(key: string, s: Session, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.o.log(`${this.o.name}: UDP send failed: ${(err as Error).message}`);
      this.drop(key, s);
    }
  }

  private open(key: string, client: RemoteInfo, endpoint: string): Session {
    const { host, port } = splitEndpoint(endpoint);
    const backend = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
    const s: Session = { endpoint, backend, pending: [] };
    this.sessions.set(key, s);
    backend.on('error', (err) => {
      // A refused datagram (ICMP port unreachable) ends the session, as a read error did upstream.
      this.o.log(`${this.o.name}: UDP to ${endpoint}: ${err.message}`);
      this.drop(key, s);
    });
    // A connected socket only receives from its endpoint.
    backend.on('message', (reply) => {
      if (this.sessions.get(key) !== s) return;
      this.touch(key, s);
      this.send(key, s, () => this.sock.send(reply, client.port, client.address));
    });
    backend.connect(port, host, () => {
      const queued = s.pending ?? [];
      s.pending = null;
      for (const m of queued) this.send(key, s, () => backend.send(m));
    });
    return s;
  }

  private touch(key: string, s: Session): void {
    clearTimeout(s.timer);
    s.timer = setTimeout(() => this.drop(key, s), this.o.idleTimeoutMs);
  }

  private drop(key: string, s: Session): void {
    clearTimeout(s.timer);
    if (this.sessions.get(key) === s) this.sessions.delete(key);
    try {
      s.backend.close();
    } catch {
      // already closed
    }
  }

  endpointsRemoved(endpoints: readonly string[]): void {
    const gone = new Set(endpoints);
    for (const [key, s] of this.sessions) if (gone.has(s.endpoint)) this.drop(key, s);
  }

  /** Closes the socket and every session (upstream: existing UDP "connections" break). */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const [key, s] of this.sessions) this.drop(key, s);
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }

  get activeSessions(): number {
    return this.sessions.size;
  }
}
