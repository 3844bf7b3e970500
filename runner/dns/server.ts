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
/** The most a connection may hold of one unfinished frame: its 2-byte length and up to 65 535 bytes. */
const TCP_MAX_BUFFER = 65537;

export interface RunningSockets {
  /** The port actually bound (useful with port 0). */
  port: number;
  /** The addresses with a UDP socket now. */
  readonly addresses: string[];
  close(): Promise<void>;
}

/** How often a wildcard listener looks for local addresses that appeared or went away. */
const RESCAN_MS = 2000;

export async function listen(handler: DnsHandler, where: Listen, opts: { rescanMs?: number } = {}): Promise<RunningSockets> {
  const tcp: Server = createServer({ allowHalfOpen: true }, (conn) => {
    let buf: Buffer = Buffer.alloc(0);
    // Queries still being answered; a client that half-closes after writing its queries gets them all.
    let pending = 0;
    let ended = false;
    conn.setTimeout(TCP_IDLE_MS, () => conn.destroy());
    conn.on('error', () => conn.destroy());
    conn.on('end', () => {
      ended = true;
      if (pending === 0) conn.end();
    });
    conn.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        pending++;
        void handler.handle(Buffer.from(msg), 'tcp').then((reply) => {
          pending--;
          if (conn.destroyed) return;
          if (reply) {
            const head = Buffer.alloc(2);
            head.writeUInt16BE(reply.length);
            conn.write(Buffer.concat([head, reply]));
          }
          if (ended && pending === 0) conn.end();
        });
      }
      // What is left is the start of one frame (at most 2 + 65534 bytes); copy it off the chunk.
      if (buf.length > TCP_MAX_BUFFER) return conn.destroy();
      buf = Buffer.from(buf);
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(where.port, where.host, () => resolve());
  });
  const port = (tcp.address() as { port: number }).port;
  const udp = new Map<string, Socket>();
  const bind = async (addr: string) => {
    const s = createSocket({ type: addr.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
    s.on('message', (msg, rinfo) => {
      void handler.handle(msg, 'udp').then((reply) => {
        if (!reply || !udp.has(addr)) return; // the socket closed meanwhile (the address went away, or shutdown)
        try {
          s.send(reply, rinfo.port, rinfo.address);
        } catch {
          // closed under us
        }
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(port, addr, () => resolve());
      });
    } catch (err) {
      s.close();
      throw err;
    }
    s.on('error', () => {});
    udp.set(addr, s);
  };
  try {
    for (const addr of udpAddresses(where.host)) await bind(addr);
  } catch (err) {
    tcp.close();
    for (const s of udp.values()) s.close();
    throw err;
  }
  // A wildcard listener follows the machine's addresses: one added later (a new interface,
  // an alias) gets its own socket, so that its answers, too, leave from the address asked.
  let rescan: NodeJS.Timeout | undefined;
  let scanning = false;
  if (where.host === '0.0.0.0') {
    rescan = setInterval(() => {
      if (scanning) return;
      scanning = true;
      const now = new Set(udpAddresses(where.host));
      for (const [addr, s] of udp) {
        if (!now.has(addr)) {
          udp.delete(addr);
          s.close();
        }
      }
      void Promise.all([...now].filter((a) => !udp.has(a)).map((a) => bind(a).catch(() => {}))).finally(() => (scanning = false));
    }, opts.rescanMs ?? RESCAN_MS);
    rescan.unref();
  }
  return {
    port,
    get addresses() {
      return [...udp.keys()];
    },
    async close() {
      if (rescan) clearInterval(rescan);
      for (const s of udp.values()) s.close();
      udp.clear();
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}
