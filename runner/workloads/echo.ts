import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';

export interface EchoIdentity {
  ports: number[];
  pod: string;
  podIP: string;
  node: string;
  namespace: string;
}

export interface EchoReply {
  pod: string;
  pod_ip: string;
  node: string;
  namespace: string;
  client: string;
  port: number;
  protocol: 'tcp' | 'udp';
}

/** The reply body: `key: value` lines for people and curl, or JSON for programs. */
export function renderReply(reply: EchoReply, json: boolean): string {
  if (json) return `${JSON.stringify(reply)}\n`;
  return Object.entries(reply)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n')
    .concat('\n');
}

function clientAddr(address: string | undefined, port: number | undefined): string {
  const a = (address ?? '').replace(/^::ffff:/, '');
  return a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
}

/** Serves HTTP on each TCP port and a one-datagram echo on the same UDP port. */
export function startEcho(id: EchoIdentity): void {
  for (const port of id.ports) {
    const base = { pod: id.pod, pod_ip: id.podIP, node: id.node, namespace: id.namespace, port };
    createServer((req, res) => {
      const json = (req.headers.accept ?? '').includes('application/json') || (req.url ?? '').includes('format=json');
      const body = renderReply({ ...base, client: clientAddr(req.socket.remoteAddress, req.socket.remotePort), protocol: 'tcp' }, json);
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'text/plain; charset=utf-8', 'x-served-by': id.pod });
      res.end(body);
    })
      .on('clientError', (_err, socket) => socket.destroy())
      .listen(port, () => console.log(`echo: ${id.pod} serving HTTP on :${port}/tcp and :${port}/udp`));
    const udp = createSocket('udp4');
    udp.on('message', (msg, rinfo) => {
      const json = msg.toString('utf8').trim() === 'json';
      udp.send(renderReply({ ...base, client: clientAddr(rinfo.address, rinfo.port), protocol: 'udp' }, json), rinfo.port, rinfo.address);
    });
    udp.on('error', (err) => console.error(`echo: udp :${port}: ${err.message}`));
    udp.bind(port);
  }
  process.on('SIGTERM', () => process.exit(0));
}
