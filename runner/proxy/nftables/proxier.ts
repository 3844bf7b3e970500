// The nftables proxier as run.ts drives it: one FamilyProxier per IP family the node
// supports (upstream's dual-stack MetaProxier over two single-stack proxiers), each with
// its own table (ip and ip6 kube-proxy), trackers and sync loop.
import type { IPFamily } from '../../core/proxy/ip.ts';
import type { ProxySettings } from '../../core/proxy/options.ts';
import { healthCheckNodePorts, localReadyEndpoints } from '../../core/proxy/service-health.ts';
import type { EndpointSlice, Node, Service } from '../../core/proxy/types.ts';
import type { Exec } from '../exec.ts';
import type { ProxyHealth } from '../health.ts';
import { onceLogger, type LogLine } from '../log.ts';
import type { ModeProxier } from '../mode.ts';
import type { ProxyMetrics } from '../metrics.ts';
import type { ServiceHealthServer } from '../service-health.ts';
import { FamilyProxier, type FamilyProxierOptions } from './family.ts';
import type { NftablesMetrics } from './metrics.ts';
import type { Nft } from './nft.ts';

export interface NftablesProxierOptions {
  settings: ProxySettings;
  node: Node | null;
  /** The families to proxy: IPv4, and IPv6 where the kernel has it. */
  families: IPFamily[];
  nft: Nft;
  exec: Exec;
  metrics?: ProxyMetrics | null;
  nftMetrics?: NftablesMetrics | null;
  health?: ProxyHealth | null;
  serviceHealth?: ServiceHealthServer | null;
  interfaceAddresses?: () => Promise<string[]>;
  syncPeriodMs: number;
  minSyncPeriodMs: number;
  log: LogLine;
  onSynced?: (family: IPFamily, r: Parameters<NonNullable<FamilyProxierOptions['onSynced']>>[0]) => void;
  now?: () => number;
}

export class NftablesProxier implements ModeProxier {
  readonly mode = 'nftables' as const;
  readonly families: FamilyProxier[];
  private readonly o: NftablesProxierOptions;

  constructor(o: NftablesProxierOptions) {
    this.o = o;
    const warn = onceLogger(o.log);
    this.families = o.families.map(
      (family) =>
        new FamilyProxier({
          family,
          settings: o.settings,
          node: o.node,
          nft: o.nft,
          exec: o.exec,
          metrics: o.metrics,
          nftMetrics: o.nftMetrics,
          health: o.health,
          interfaceAddresses: o.interfaceAddresses,
          syncPeriodMs: o.syncPeriodMs,
          minSyncPeriodMs: o.minSyncPeriodMs,
          log: o.log,
          warn,
          afterSuccess: () => this.syncServiceHealth(),
          onSynced: o.onSynced ? (r) => o.onSynced!(family, r) : undefined,
          now: o.now,
        }),
    );
  }

  family(f: IPFamily): FamilyProxier | undefined {
    return this.families.find((p) => p.family === f);
  }

  onServiceUpdate(previous: Service | null, current: Service | null): void {
    this.o.metrics?.serviceChangesTotal.inc();
    for (const f of this.families) f.onServiceUpdate(previous, current);
    this.o.metrics?.serviceChangesPending.set(this.families[0]?.state.pendingServiceChanges ?? 0);
  }

  onEndpointSliceUpdate(slice: EndpointSlice, removed: boolean): void {
    this.o.metrics?.endpointChangesTotal.inc();
    for (const f of this.families) f.onEndpointSliceUpdate(slice, removed);
    this.o.metrics?.endpointChangesPending.set(this.families.reduce((n, f) => n + f.state.pendingEndpointChanges, 0));
  }

  async onServicesSynced(): Promise<boolean> {
    const r = await Promise.all(this.families.map((f) => f.onServicesSynced()));
    return r.every(Boolean);
  }

  async onEndpointSlicesSynced(): Promise<boolean> {
    const r = await Promise.all(this.families.map((f) => f.onEndpointSlicesSynced()));
    return r.every(Boolean);
  }

  onNode(node: Node | null): void {
    if (this.o.health) this.o.health.node = node;
    for (const f of this.families) f.onNode(node);
  }

  /** All ServiceCIDRs of the cluster (networking.k8s.io/v1), each family takes its own. */
  onServiceCIDRs(cidrs: string[]): void {
    for (const f of this.families) f.setServiceCIDRs(cidrs);
  }

  start(): void {
    for (const f of this.families) f.start();
  }

  stop(): void {
    for (const f of this.families) f.stop();
  }

  /**
   * The health check node ports of every family's services, and for each the local ready
   * endpoints of the first family (IPv4 first) that has the service.
   */
  private async syncServiceHealth(): Promise<void> {
    const sh = this.o.serviceHealth;
    if (!sh) return;
    const ports = new Map<string, number>();
    const endpoints = new Map<string, number>();
    for (const f of this.families) {
      for (const [svc, port] of healthCheckNodePorts(f.state.servicePorts())) if (!ports.has(svc)) ports.set(svc, port);
      for (const [svc, n] of localReadyEndpoints(f.state.allEndpoints())) if (!endpoints.has(svc)) endpoints.set(svc, n);
    }
    await sh.syncServices(ports);
    sh.syncEndpoints(endpoints);
  }
}
