// Holds a node port (or a local service address and port) open while the portal rules
// redirect it (upstream claimNodePort): no other program on the node can take the port,
// and `ss -ltnup` shows it as kube-proxy's. Nothing ever reaches the socket itself: the
// nat rules send the traffic to the proxy port first.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';

export interface HeldPort {
  close(): Promise<void>;
}

/** host "" holds the port on every address. */
export function holdPort(protocol: 'TCP' | 'UDP', host: string, port: number): Promise<HeldPort> {
  if (protocol === 'TCP') {
    const server: Server = createServer((c) => c.destroy());
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: host || '0.0.0.0', port, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', () => {});
        resolve({ close: () => new Promise((r) => server.close(() => r())) });
      });
    });
  }
  const sock: UdpSocket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ address: host || '0.0.0.0', port, exclusive: true }, () => {
      sock.off('error', reject);
      sock.on('message', () => {});
      sock.on('error', () => {});
      resolve({ close: () => new Promise((r) => sock.close(() => r())) });
    });
  });
}
