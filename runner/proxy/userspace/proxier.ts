// The userspace proxier (upstream pkg/proxy/userspace Proxier, removed in v1.26): a
// listening socket per TCP or UDP service port, the portal rules that redirect service
// traffic to those sockets, and a round-robin balancer that picks an endpoint for each
// new connection. Service and EndpointSlice events feed the shared change trackers;
// syncs are batched by the BoundedFrequencyRunner. An endpoint change only updates the
// balancer: the rules name the proxy's ports, never an endpoint.
import { canonicalIP, joinHostPort } from '../../core/proxy/ip.ts';
import { primaryNodeIP, type ProxySettings } from '../../core/proxy/options.ts';
import type { ServicePortInfo } from '../../core/proxy/service-port.ts';
import type { Node } from '../../core/proxy/types.ts';
import { portalOptionsFor } from '../../core/proxy/userspace/addresses.ts';
import { RoundRobinBalancer } from '../../core/proxy/userspace/balancer.ts';
import { planUserspaceJumps } from '../../core/proxy/userspace/jumps.ts';
import { PortRangeAllocator } from '../../core/proxy/userspace/port-range.ts';
import { proxiable, renderPortals } from '../../core/proxy/userspace/portals.ts';
import type { Exec } from '../exec.ts';
import type { ProxyHealth } from '../health.ts';
import type { Iptables } from '../iptables.ts';
import { onceLogger, type LogLine } from '../log.ts';
import type { ProxyMetrics } from '../metrics.ts';
import type { ModeProxier } from '../mode.ts';
import type { UserspaceOptions } from './flags.ts';
import { holdPort, type HeldPort } from './port-holder.ts';
import type { PickEndpoint, ProxySocket } from './socket.ts';
import { TcpProxySocket } from './tcp-socket.ts';
import { UdpProxySocket } from './udp-socket.ts';
import { SyncLoop } from '../sync-loop.ts';

export interface UserspaceProxierOptions {
  settings: ProxySettings;
  node: Node | null;
  iptables: Iptables;
  /** Runs `conntrack`. */
  exec: Exec;
  metrics?: ProxyMetrics | null;
  health?: ProxyHealth | null;
  /** This node's interface addresses (local service IPs are held open; the node's IP when the Node has none). */
  interfaceAddresses?: () => Promise<string[]>;
  syncPeriodMs: number;
  minSyncPeriodMs: number;
  log: LogLine;
  userspace: UserspaceOptions;
  balancer?: RoundRobinBalancer;
  /** Called after every sync attempt (tests wait on it). */
  onSynced?: (r: { ok: boolean; rulesWritten: boolean }) => void;
}

interface Proxied {
  sp: ServicePortInfo;
  socket: ProxySocket;
}

const FAMILY = 'IPv4';

export class UserspaceProxier extends SyncLoop implements ModeProxier {
  readonly mode = 'userspace' as const;
  readonly balancer: RoundRobinBalancer;
  private readonly o: UserspaceProxierOptions;
  private readonly warn: (key: string, message: string) => void;
  private readonly proxied = new Map<string, Proxied>();
  /** "TCP/:30080" or "TCP/203.0.113.7:80" → the service port holding it. */
  private readonly held = new Map<string, { owner: string; port: HeldPort }>();
  private readonly allocator: PortRangeAllocator | null;
  private node: Node | null;
  private lastRules = '';
  private lastRulesAt = 0;

  constructor(o: UserspaceProxierOptions) {
    const warn = onceLogger(o.log);
    // Upstream resynced every syncPeriod (re-ensuring every rule), retrying as often.
    super({ family: FAMILY, nodeName: o.settings.nodeName, warn, metrics: o.metrics, health: o.health, minSyncPeriodMs: o.minSyncPeriodMs, retryIntervalMs: o.syncPeriodMs, maxIntervalMs: o.syncPeriodMs });
    this.o = o;
    this.warn = warn;
    this.balancer = o.balancer ?? new RoundRobinBalancer();
    this.allocator = o.userspace.portRange ? new PortRangeAllocator(o.userspace.portRange) : null;
    this.node = o.node;
  }

  /** The ports the proxy listens on now, per service port key. */
  proxyPorts(): Map<string, number> {
    return new Map([...this.proxied].map(([k, p]) => [k, p.socket.port]));
  }

  onNode(node: Node | null): void {
    if (this.o.health) this.o.health.node = node;
    const before = primaryNodeIP(FAMILY, this.node, '0.0.0.0');
    if (node) this.node = node;
    if (node && primaryNodeIP(FAMILY, node, '0.0.0.0') !== before) {
      this.lastRules = '';
      this.queueSync();
    }
  }

  /**
   * Upstream flushed its chains when it started: the ports the old rules name were the
   * previous process's. Until the first sync, service traffic is not redirected at all.
   */
  async flushPortals(): Promise<void> {
    await this.o.iptables.restoreAll(renderPortals([], new Map(), portalOptionsFor(this.o.settings, this.node, [])).text);
  }

  start(): void {
    this.o.health?.updated(FAMILY);
    void this.runner.loop();
  }

  stop(): void {
    void this.shutdown();
  }

  /** Stops syncing and closes every socket (connections in progress too). The rules stay, as upstream left them. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    this.runner.stop();
    await this.syncing;
    await Promise.all([...this.proxied.values()].map((p) => p.socket.close('close')));
    this.proxied.clear();
    await Promise.all([...this.held.values()].map((h) => h.port.close()));
    this.held.clear();
  }

  protected async doSync(): Promise<boolean> {
    if (!this.initialized || this.stopped) return true;
    const started = performance.now();
    const update = this.state.update();
    this.o.metrics?.serviceChangesPending.set(0);
    this.o.metrics?.endpointChangesPending.set(0);
    let ok = false;
    let rulesWritten = false;
    try {
      const all = this.state.servicePorts();
      for (const sp of all) if (!proxiable(sp)) this.warn(`userspace-proto:${sp.key}`, `${sp.name} is ${sp.protocol}: the userspace proxy carries only TCP and UDP; not proxying it`);
      const servicePorts = all.filter(proxiable);
      await this.reconcileSockets(servicePorts);
      this.updateEndpoints(servicePorts);
      const addresses = await this.addresses();
      const unheld = await this.reconcileHeldPorts(servicePorts, addresses);
      const r = await this.writeRules(servicePorts, addresses, unheld);
      ok = r.ok;
      rulesWritten = r.written;
      this.balancer.cleanupStaleStickySessions();
    } catch (err) {
      this.o.log(`sync failed: ${(err as Error).message}`);
      ok = false;
    }
    const m = this.o.metrics;
    if (ok) {
      for (const times of update.lastChangeTriggerTimes.values()) for (const t of times) m?.networkProgramming.observe({ ip_family: FAMILY }, (Date.now() - t) / 1000);
      this.o.health?.updated(FAMILY);
      m?.lastTimestamp.set({ ip_family: FAMILY }, Date.now() / 1000);
    } else {
      this.lastRules = '';
      this.o.log(`sync failed; retrying in ${this.o.syncPeriodMs / 1000}s`);
    }
    const secs = (performance.now() - started) / 1000;
    m?.syncLatency.observe({ ip_family: FAMILY }, secs);
    m?.syncFullLatency.observe({ ip_family: FAMILY }, secs);
    this.o.onSynced?.({ ok, rulesWritten });
    return ok;
  }

  private async addresses(): Promise<string[]> {
    if (!this.o.interfaceAddresses) return [...this.o.settings.localAddresses];
    try {
      return [...this.o.settings.localAddresses, ...(await this.o.interfaceAddresses())];
    } catch (err) {
      this.warn('userspace-addrs', `failed to read the node's addresses, assuming service IPs are not local: ${(err as Error).message}`);
      return [...this.o.settings.localAddresses];
    }
  }

  /** Opens a socket for each new service port and closes those of removed ones (upstream mergeService/unmergeService). */
  private async reconcileSockets(servicePorts: ServicePortInfo[]): Promise<void> {
    const want = new Set(servicePorts.map((sp) => sp.key));
    for (const [key, p] of this.proxied) {
      if (want.has(key)) continue;
      this.proxied.delete(key);
      this.balancer.deleteService(key);
      await p.socket.close('keep');
      this.allocator?.release(p.socket.port);
      this.o.log(`stopped proxying ${p.sp.name} (${joinHostPort(p.sp.clusterIP, p.sp.port)}/${p.sp.protocol}); port ${p.socket.port} closed`);
      if (p.sp.protocol === 'UDP') await this.clearUDPConntrack(p.sp.clusterIP);
    }
    for (const sp of servicePorts) {
      this.balancer.setService(sp.key, { clientIP: sp.sessionAffinityClientIP, timeoutSeconds: sp.stickyMaxAgeSeconds });
      const existing = this.proxied.get(sp.key);
      if (existing) {
        existing.sp = sp;
        continue;
      }
      const socket = await this.openSocket(sp);
      if (!socket) continue;
      this.proxied.set(sp.key, { sp, socket });
      this.o.log(`proxying ${sp.name} (${joinHostPort(sp.clusterIP, sp.port)}/${sp.protocol}) on port ${socket.port}`);
      // Flows of this address from before (another proxy process) point at a port nobody has now.
      if (sp.protocol === 'UDP') await this.clearUDPConntrack(sp.clusterIP);
    }
  }

  private async openSocket(sp: ServicePortInfo): Promise<ProxySocket | null> {
    const pick: PickEndpoint = (client, reset) => this.balancer.next(sp.key, client, reset);
    const { listenIP } = portalOptionsFor(this.o.settings, this.node, []);
    const listen = (port: number) =>
      sp.protocol === 'TCP'
        ? TcpProxySocket.listen(listenIP, port, { name: sp.name, pick, log: this.o.log })
        : UdpProxySocket.listen(listenIP, port, { name: sp.name, pick, idleTimeoutMs: this.o.userspace.udpIdleTimeoutMs, log: this.o.log });
    if (!this.allocator) {
      try {
        return await listen(0);
      } catch (err) {
        this.warn(`userspace-listen:${sp.key}:${(err as Error).message}`, `failed to start proxy for ${sp.name}: ${(err as Error).message}`);
        return null;
      }
    }
    // Ports of the range someone else holds are skipped, and given back afterwards.
    const taken: number[] = [];
    try {
      for (;;) {
        const port = this.allocator.allocate();
        if (port === null) {
          this.warn(`userspace-range:${sp.key}`, `failed to allocate a proxy port for ${sp.name}: no free port left in --proxy-port-range`);
          return null;
        }
        try {
          return await listen(port);
        } catch (err) {
          taken.push(port);
          if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
            this.warn(`userspace-listen:${sp.key}:${(err as Error).message}`, `failed to start proxy for ${sp.name}: ${(err as Error).message}`);
            return null;
          }
        }
      }
    } finally {
      for (const p of taken) this.allocator.release(p);
    }
  }

  private updateEndpoints(servicePorts: ServicePortInfo[]): void {
    for (const sp of servicePorts) {
      // Upstream's userspace proxy read the ready addresses of Endpoints; traffic policies and topology never applied.
      const endpoints = this.state.endpointsFor(sp.key).filter((e) => e.ready).map((e) => e.endpoint);
      const gone = this.balancer.setEndpoints(sp.key, endpoints);
      if (gone === null) continue;
      this.o.log(`endpoints of ${sp.name}: ${endpoints.length ? endpoints.join(', ') : 'none'}`);
      if (gone.length) this.proxied.get(sp.key)?.socket.endpointsRemoved(gone);
    }
  }

  /**
   * Holds each node port, and each service address that is local to the node, open
   * (upstream claimNodePort). A node port that cannot be held gets no rules.
   */
  private async reconcileHeldPorts(servicePorts: ServicePortInfo[], addresses: string[]): Promise<Set<string>> {
    const local = new Set(addresses.map((a) => canonicalIP(a)).filter((a): a is string => a !== null));
    const want = new Map<string, { owner: string; protocol: 'TCP' | 'UDP'; host: string; port: number }>();
    const unheld = new Set<string>();
    for (const sp of servicePorts) {
      if (!this.proxied.has(sp.key)) continue;
      const protocol = sp.protocol as 'TCP' | 'UDP';
      const claims = [...new Set([sp.clusterIP, ...sp.externalIPs, ...sp.loadBalancerVIPs])].filter((ip) => local.has(ip)).map((ip) => ({ host: ip, port: sp.port }));
      if (sp.nodePort !== 0) claims.push({ host: '', port: sp.nodePort });
      for (const c of claims) {
        const key = `${protocol}/${joinHostPort(c.host, c.port)}`;
        const other = want.get(key);
        if (other && other.owner !== sp.key) {
          this.warn(`userspace-conflict:${key}:${sp.key}`, `port conflict on ${key}: ${other.owner} vs ${sp.key}`);
          if (c.host === '') unheld.add(sp.key);
          continue;
        }
        want.set(key, { owner: sp.key, protocol, ...c });
      }
    }
    for (const [key, h] of this.held) {
      if (want.get(key)?.owner === h.owner) continue;
      this.held.delete(key);
      await h.port.close();
    }
    for (const [key, w] of want) {
      if (this.held.has(key)) continue;
      try {
        this.held.set(key, { owner: w.owner, port: await holdPort(w.protocol, w.host, w.port) });
      } catch (err) {
        this.warn(`userspace-hold:${key}:${(err as Error).message}`, `can't open ${w.host === '' ? 'node port' : 'local port'} ${key} for ${w.owner}: ${(err as Error).message}`);
        if (w.host === '') unheld.add(w.owner);
      }
    }
    return unheld;
  }

  /**
   * Writes the portal rules and ensures the jump rules (upstream iptablesInit on every
   * sync). Skipped while nothing changed, except once a sync period, which also repairs
   * rules someone flushed.
   */
  private async writeRules(servicePorts: ServicePortInfo[], addresses: string[], unheld: Set<string>): Promise<{ ok: boolean; written: boolean }> {
    const ipt = this.o.iptables;
    const proxyPorts = this.proxyPorts();
    const r = renderPortals(servicePorts, proxyPorts, { ...portalOptionsFor(this.o.settings, this.node, addresses), unheldNodePorts: unheld });
    if (r.text === this.lastRules && Date.now() - this.lastRulesAt < this.o.syncPeriodMs) return { ok: true, written: false };
    try {
      const jumps = planUserspaceJumps(await ipt.save());
      if (jumps.text) await ipt.restoreAll(jumps.text);
      await ipt.restoreAll(r.text);
    } catch (err) {
      this.o.log(`failed to write the portal rules: ${(err as Error).message.split('\n')[0]}`);
      this.o.metrics?.restoreFailures.inc({ ip_family: FAMILY });
      return { ok: false, written: false };
    }
    const m = this.o.metrics;
    m?.rulesTotal.set({ table: 'nat', ip_family: FAMILY }, r.natRules);
    m?.rulesLast.set({ table: 'nat', ip_family: FAMILY }, r.natRules);
    m?.rulesTotal.set({ table: 'filter', ip_family: FAMILY }, r.filterRules);
    m?.rulesLast.set({ table: 'filter', ip_family: FAMILY }, r.filterRules);
    this.lastRules = r.text;
    this.lastRulesAt = Date.now();
    return { ok: true, written: true };
  }

  /** Upstream conntrack.ClearEntriesForIP: UDP flows to a service IP would keep going to a closed proxy port. */
  private async clearUDPConntrack(ip: string): Promise<void> {
    try {
      // Exit 1 means nothing matched.
      await this.o.exec('conntrack', ['-D', '-p', 'udp', '--orig-dst', ip], { allowFailure: true, timeoutMs: 30_000 });
    } catch (err) {
      this.warn('userspace-conntrack', `failed to delete UDP conntrack entries (is Debian's conntrack installed?): ${(err as Error).message}`);
    }
  }
}
