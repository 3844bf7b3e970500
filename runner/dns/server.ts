// The DNS server's sockets: UDP (one socket per local address, so that every answer
// leaves from the address the query was sent to) and TCP (length-framed messages,
// several per connection, answered as they complete).
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { DnsHandler } from './handler.ts';

export interface Listen {
  host: string;
  port: number;
}

/** "127.0.0.1:5353", "[::1]:53", ":53" or "53". */
export function parseListen(s: string, defaultPort = 53): Listen | undefined {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : defaultPort };
  const m = /^([^:]*)(?::(\d+))?$/.exec(s);
  if (!m) return undefined;
  if (/^\d+$/.test(m[1]!) && m[2] === undefined) return { host: '0.0.0.0', port: Number(m[1]) };
  const port = m[2] ? Number(m[2]) : defaultPort;
  if (port < 0 || port > 65535) return undefined;
  return { host: m[1] || '0.0.0.0', port };
}

/** The addresses to bind UDP sockets on: the given one, or every local IPv4 address for a wildcard. */
export function udpAddresses(host: string): string[] {
  if (host !== '0.0.0.0') return [host];
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4') out.push(a.address);
  return out.length ? out : ['0.0.0.0'];
}

const TCP_IDLE_MS = 10_000;
const TCP_MAX_BUFFER = 65537;

export interface RunningSockets {
  /** The port actually bound (useful with port 0). */
  port: number;
  addresses: string[];
  close(): Promise<void>;
}

export async function listen(handler: DnsHandler, where: Listen): Promise<RunningSockets> {
  const tcp: Server = createServer((conn) => {
    let buf = Buffer.alloc(0);
    conn.setTimeout(TCP_IDLE_MS, () => conn.destroy());
    conn.on('error', () => conn.destroy());
    conn.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length > TCP_MAX_BUFFER + 2) return conn.destroy();
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        void handler.handle(Buffer.from(msg), 'tcp').then((reply) => {
          if (!reply || conn.destroyed) return;
          const head = Buffer.alloc(2);
          head.writeUInt16BE(reply.length);
          conn.write(Buffer.concat([head, reply]));
        });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(where.port, where.host, () => resolve());
  });
  const port = (tcp.address() as { port: number }).port;
  const udp: Socket[] = [];
  try {
    for (const addr of udpAddresses(where.host)) {
      const s = createSocket({ type: addr.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
      s.on('message', (msg, rinfo) => {
        void handler.handle(msg, 'udp').then((reply) => {
          if (reply) s.send(reply, rinfo.port, rinfo.address);
        });
      });
      s.on('error', () => {});
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(port, addr, () => resolve());
      });
      udp.push(s);
    }
  } catch (err) {
    tcp.close();
    for (const s of udp) s.close();
    throw err;
  }
  return {
    port,
    addresses: udpAddresses(where.host),
    async close() {
      for (const s of udp) s.close();
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}
