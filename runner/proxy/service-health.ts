// Service health check node ports (upstream pkg/proxy/healthcheck/service_health.go): for
// every Service with externalTrafficPolicy: Local and a healthCheckNodePort, an HTTP server
// on that port answering any path with 200 when this node has ready endpoints of the
// Service and the proxy is healthy, else 503, with upstream's JSON body and headers. The
// sync loop opens and closes servers as Services come and go (syncServices) and updates
// the counts (syncEndpoints) after every successful sync.
import { createServer, type Server } from 'node:http';
import { networkInterfaces } from 'node:os';
import { serviceHealthBody } from '../core/proxy/service-health.ts';
import type { LogLine } from './log.ts';

export interface ServiceHealthOptions {
  nodeName: string;
  /**
   * Where each health check port listens: null for every address (upstream listens on
   * "0.0.0.0", which Go opens dual-stack), else on each of these node IPs
   * (--nodeport-addresses), decided once at start like upstream.
   */
  nodeIPs: string[] | null;
  /** The proxy's own health (/livez's verdict), reported as serviceProxyHealthy. */
  proxyHealthy: () => boolean;
  log: LogLine;
  /** Told when a port cannot be opened (upstream records a FailedToStartServiceHealthcheck event). */
  onListenFailure?: (service: string, port: number, message: string) => void;
}

interface Instance {
  port: number;
  servers: Server[];
  /** Ready endpoints of the Service on this node. */
  endpoints: number;
}

export class ServiceHealthServer {
  private readonly services = new Map<string, Instance>();

  constructor(private readonly o: ServiceHealthOptions) {}

  /**
   * Makes exactly these Services ("namespace/name" → port) served: a server whose Service
   * is gone or moved to another port is closed; new ones are opened. A port that cannot be
   * opened is logged and tried again on the next sync.
   */
  async syncServices(wanted: Map<string, number>): Promise<void> {
    for (const [svc, inst] of this.services) {
      if (wanted.get(svc) === inst.port) continue;
      this.o.log(`closing healthcheck service=${svc} port=${inst.port}`);
      this.services.delete(svc);
      await closeAll(inst.servers);
    }
    for (const [svc, port] of wanted) {
      if (this.services.has(svc)) continue;
      this.o.log(`opening healthcheck service=${svc} port=${port}`);
      const inst: Instance = { port, servers: [], endpoints: 0 };
      // Registered first: a request arriving while the other addresses open gets an answer.
      this.services.set(svc, inst);
      try {
        for (const host of this.o.nodeIPs ?? [undefined]) inst.servers.push(await this.listen(svc, inst, host));
      } catch (err) {
        this.services.delete(svc);
        await closeAll(inst.servers);
        const msg = `node ${this.o.nodeName} failed to start healthcheck "${svc}" on port ${port}: ${(err as Error).message}`;
        this.o.log(msg);
        this.o.onListenFailure?.(svc, port, msg);
      }
    }
  }

  /** Sets each served Service's count of local ready endpoints (0 when absent from `counts`). */
  syncEndpoints(counts: Map<string, number>): void {
    for (const [svc, inst] of this.services) inst.endpoints = counts.get(svc) ?? 0;
  }

  /** The Services being served and their ports. */
  serving(): Map<string, number> {
    return new Map([...this.services].map(([svc, inst]) => [svc, inst.port]));
  }

  async close(): Promise<void> {
    const all = [...this.services.values()].flatMap((i) => i.servers);
    this.services.clear();
    await closeAll(all);
  }

  private listen(svc: string, inst: Instance, host: string | undefined): Promise<Server> {
    const port = inst.port;
    const server = createServer((_req, res) => {
      if (this.services.get(svc) !== inst) {
        // Upstream answers a request racing with the close with an empty 200.
        res.end();
        return;
      }
      const healthy = this.o.proxyHealthy();
      const body = serviceHealthBody(svc, inst.endpoints, healthy);
      res.writeHead(inst.endpoints !== 0 && healthy ? 200 : 503, {
        'Content-Type': 'application/json',
        'X-Content-Type-Options': 'nosniff',
        'X-Load-Balancing-Endpoint-Weight': String(inst.endpoints),
        'Content-Length': Buffer.byteLength(body),
      });
      res.end(body);
    });
    server.on('clientError', (_err, socket) => socket.destroy());
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      // Without a host Node.js listens on "::" dual-stack (or 0.0.0.0 without IPv6), as Go does for "0.0.0.0".
      server.listen({ port, host }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.o.log(`healthcheck service=${svc} port=${port}: ${err.message}`));
        resolve(server);
      });
    });
  }
}

async function closeAll(servers: Server[]): Promise<void> {
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        }),
    ),
  );
}

/** The addresses of this process's network interfaces (upstream reads them with net.InterfaceAddrs). */
export function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .map((a) => a.address.replace(/%.*$/, ''));
}
