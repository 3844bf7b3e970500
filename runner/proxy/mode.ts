// What every proxy mode shares with run.ts: the event side of a proxier (upstream's
// proxy.Provider: Service and EndpointSlice handlers, sync, this node) and the cleanup
// of a mode's rules (upstream `kube-proxy --cleanup`). The modes differ only in how
// they render and apply; they share the change trackers (core/proxy/tracker.ts), the
// BoundedFrequencyRunner, metrics and health.
import type { ProxySettings } from '../core/proxy/options.ts';
import type { EndpointSlice, Node, Service } from '../core/proxy/types.ts';
import type { KubeObject } from '../kube/state-file.ts';
import type { Exec } from './exec.ts';
import type { ProxyHealth } from './health.ts';
import type { LogLine } from './log.ts';
import type { ProxyMetrics } from './metrics.ts';
import type { ServiceHealthServer } from './service-health.ts';
import type { UserspaceOptions } from './userspace/flags.ts';

export const PROXY_MODES = ['iptables', 'nftables', 'ipvs', 'userspace'] as const;
export type ProxyMode = (typeof PROXY_MODES)[number];

export function isProxyMode(v: string): v is ProxyMode {
  return (PROXY_MODES as readonly string[]).includes(v);
}

/** The event side of a proxier, whatever its mode; run.ts drives it from the informers. */
export interface ModeProxier {
  readonly mode: ProxyMode;
  onServiceUpdate(previous: Service | null, current: Service | null): void;
  onEndpointSliceUpdate(slice: EndpointSlice, removed: boolean): void;
  /** Called once each when the first lists arrive. */
  onServicesSynced(): Promise<boolean>;
  onEndpointSlicesSynced(): Promise<boolean>;
  onNode(node: Node | null): void;
  /** Every networking.k8s.io/v1 ServiceCIDR's CIDRs, after each change (modes that use them; run.ts watches them only then). */
  onServiceCIDRs?(cidrs: string[]): void;
  start(): void;
  stop(): void;
}

/** What run.ts hands a mode's proxier: the node, where commands run, and the shared observability. */
export interface ModeDeps {
  settings: ProxySettings;
  node: Node | null;
  exec: Exec;
  metrics: ProxyMetrics | null;
  health: ProxyHealth | null;
  serviceHealth: ServiceHealthServer | null;
  /** The addresses of the interfaces where the rules are (for --nodeport-addresses). */
  interfaceAddresses: () => Promise<string[]>;
  syncPeriodMs: number;
  minSyncPeriodMs: number;
  log: LogLine;
  /** --proxy-port-range and --udp-timeout (userspace mode). */
  userspace?: UserspaceOptions;
}

/** A mode other than iptables: how to start its proxier, and how to remove everything it wrote. */
export interface ModeImplementation {
  create(deps: ModeDeps): Promise<ModeProxier>;
  /** Upstream `kube-proxy --cleanup` for this mode; returns a line per thing removed. */
  cleanup(exec: Exec): Promise<string[]>;
  /**
   * `svclab proxy render --proxy-mode MODE`: what one full sync of this mode writes for a
   * state file's objects, deterministic (the objects are v1 Services, EndpointSlices, Nodes).
   */
  render(objects: KubeObject[], settings: ProxySettings, log: (key: string, message: string) => void): string;
}
