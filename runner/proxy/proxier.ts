// The iptables proxier (upstream pkg/proxy/iptables Proxier): event handlers feed the
// change trackers, syncs are batched by a BoundedFrequencyRunner, each sync renders one
// iptables-restore input (partial when possible) and applies it.
import { JUMP_CHAINS, KUBELET_JUMP_CHAINS, KUBE_PROXY_CANARY, NFACCT_CT_STATE_INVALID_DROPPED, NFACCT_LOCALHOST_NODEPORTS_ACCEPTED, jumpRuleArgs } from '../core/proxy/chains.ts';
import type { IPFamily } from '../core/proxy/ip.ts';
import { parseSaveTables, planJumpRules } from '../core/proxy/jump-rules.ts';
import { nodePortAddressesFor, nodePortIPsFor, renderOptionsFor, type NodePortAddresses, type ProxySettings } from '../core/proxy/options.ts';
import { isLargeCluster, renderRules, type RenderOptions, type RenderResult } from '../core/proxy/render.ts';
import { healthCheckNodePorts, localReadyEndpoints } from '../core/proxy/service-health.ts';
import type { ProxyState } from '../core/proxy/tracker.ts';
import { LABEL_TOPOLOGY_ZONE, type Node } from '../core/proxy/types.ts';
import { cleanStaleUDPEntries } from './conntrack.ts';
import type { Exec } from './exec.ts';
import type { ProxyHealth } from './health.ts';
import { RestoreError, chainsInSave, linesAround, type Iptables, type Table } from './iptables.ts';
import { onceLogger, type LogLine } from './log.ts';
import type { ModeProxier } from './mode.ts';
import type { ProxyMetrics } from './metrics.ts';
import type { Nfacct } from './nfacct.ts';
import type { ServiceHealthServer } from './service-health.ts';
import { SyncLoop } from './sync-loop.ts';

/** Upstream proxyutil.FullSyncPeriod. */
export const FULL_SYNC_PERIOD_MS = 60 * 60 * 1000;

export interface ProxierOptions {
  settings: ProxySettings;
  /** This node's Node object as known at start (node IP, zone, NodeCIDR). */
  node: Node | null;
  family?: IPFamily;
  iptables: Iptables;
  /** Runs `conntrack` (same namespace as iptables). */
  exec: Exec;
  nfacct?: Nfacct | null;
  metrics?: ProxyMetrics | null;
  health?: ProxyHealth | null;
  /** The health check node port servers of externalTrafficPolicy: Local Services. */
  serviceHealth?: ServiceHealthServer | null;
  /**
   * The addresses of this node's interfaces, read on every sync when --nodeport-addresses
   * selects among them (upstream GetNodeIPs); settings.localAddresses are added to them.
   */
  interfaceAddresses?: () => Promise<string[]>;
  syncPeriodMs: number;
  minSyncPeriodMs: number;
  log: LogLine;
  /** Called after every sync attempt (tests wait on it). */
  onSynced?: (r: { ok: boolean; full: boolean; result?: RenderResult }) => void;
}

export class Proxier extends SyncLoop implements ModeProxier {
  readonly mode = 'iptables' as const;
  private readonly o: ProxierOptions;
  private renderOptions: RenderOptions;
  private readonly nodePortAddresses: NodePortAddresses;
  private needFullSync = true;
  private lastFullSync = 0;
  private lastCleanup = 0;
  /**
   * The per-service nat chains the table holds after the last successful sync, as far as
   * this proxy knows (null: unknown, read iptables-save). Lets partial syncs between
   * cleanups skip the iptables-save upstream runs on every sync.
   */
  private knownNatChains: Set<string> | null = null;
  private topologyZone: string | undefined;
  private canaryTimer: NodeJS.Timeout | null = null;
  readonly warn: (key: string, message: string) => void;

  constructor(o: ProxierOptions) {
    const warn = onceLogger(o.log);
    super({ family: o.family ?? 'IPv4', nodeName: o.settings.nodeName, warn, metrics: o.metrics, health: o.health, minSyncPeriodMs: o.minSyncPeriodMs, retryIntervalMs: o.syncPeriodMs, maxIntervalMs: FULL_SYNC_PERIOD_MS });
    this.o = o;
    this.warn = warn;
    this.renderOptions = renderOptionsFor({ ...o.settings, randomFully: o.iptables.hasRandomFully }, o.node, this.family);
    this.nodePortAddresses = nodePortAddressesFor(o.settings, this.family, o.node);
    this.topologyZone = o.node?.metadata?.labels?.[LABEL_TOPOLOGY_ZONE];
  }

  /** This node changed: a new topology zone makes the next sync a full one. */
  onNode(node: Node | null): void {
    if (this.o.health) this.o.health.node = node;
    const zone = node?.metadata?.labels?.[LABEL_TOPOLOGY_ZONE];
    if (node && zone !== this.topologyZone) {
      this.topologyZone = zone;
      this.renderOptions = { ...this.renderOptions, topologyLabels: zone === undefined ? {} : { [LABEL_TOPOLOGY_ZONE]: zone } };
      this.needFullSync = true;
      this.queueSync();
    }
  }

  /** A full resync now, whatever changed (the canary was deleted). */
  forceSync(): Promise<boolean> {
    this.needFullSync = true;
    return this.syncProxyRules();
  }

  /** Runs the sync loop and the canary monitor until stop(). */
  start(): void {
    this.o.health?.updated(this.family);
    this.o.metrics?.lastQueuedTimestamp.set({ ip_family: this.family }, Date.now() / 1000);
    void this.runner.loop();
    void this.monitorCanary();
  }

  stop(): void {
    this.stopped = true;
    this.runner.stop();
    if (this.canaryTimer) clearTimeout(this.canaryTimer);
  }

  protected async doSync(): Promise<boolean> {
    if (!this.initialized || this.stopped) return true;
    const started = performance.now();
    const full = this.needFullSync || Date.now() - this.lastFullSync > FULL_SYNC_PERIOD_MS;
    const update = this.state.update();
    this.o.metrics?.serviceChangesPending.set(0);
    this.o.metrics?.endpointChangesPending.set(0);
    let ok = false;
    let result: RenderResult | undefined;
    try {
      result = await this.apply(full, update.updatedServices);
      ok = result !== undefined;
      if (ok) {
        this.needFullSync = false;
        if (full) this.lastFullSync = Date.now();
        await this.afterSuccess(result!, update);
      }
    } catch (err) {
      this.o.log(`sync failed: ${(err as Error).message}`);
      ok = false;
    }
    if (!ok) {
      if (!full) this.o.metrics?.partialRestoreFailures.inc({ ip_family: this.family });
      // The trackers' changes are consumed: only a full sync can catch up.
      this.needFullSync = true;
      this.o.log(`sync failed; retrying in ${this.o.syncPeriodMs / 1000}s with a full sync`);
    }
    const secs = (performance.now() - started) / 1000;
    this.o.metrics?.syncLatency.observe({ ip_family: this.family }, secs);
    (full ? this.o.metrics?.syncFullLatency : this.o.metrics?.syncPartialLatency)?.observe({ ip_family: this.family }, secs);
    this.o.onSynced?.({ ok, full, result });
    return ok;
  }

  private async apply(full: boolean, updatedServices: Set<string>): Promise<RenderResult | undefined> {
    const ipt = this.o.iptables;
    let options = this.renderOptions;
    let existingNatChains: string[] | null = null;
    if (full) {
      existingNatChains = await this.ensureJumpRules();
      if (this.o.nfacct) {
        const [ct = false, np = false] = await this.o.nfacct.ensureAll([NFACCT_CT_STATE_INVALID_DROPPED, NFACCT_LOCALHOST_NODEPORTS_ACCEPTED]);
        this.renderOptions = options = { ...options, nfacct: { ctStateInvalidDropped: ct, localhostNodePortsAccepted: np } };
      } else if (this.o.nfacct === null) {
        this.renderOptions = options = { ...options, nfacct: { ctStateInvalidDropped: false, localhostNodePortsAccepted: false } };
      }
    }
    if (options.nodePortIPs !== null && this.o.interfaceAddresses) {
      try {
        const addresses = await this.o.interfaceAddresses();
        options = { ...options, nodePortIPs: nodePortIPsFor(this.nodePortAddresses, ['127.0.0.1', '::1', ...this.o.settings.localAddresses, ...addresses]) };
      } catch (err) {
        this.o.log(`failed to read the node's addresses, NodePorts may not work as intended: ${(err as Error).message}`);
      }
    }
    const view = { servicePorts: this.state.servicePorts(), endpointsFor: (k: string) => this.state.endpointsFor(k) };
    const cleanupDue = Date.now() - this.lastCleanup > this.o.syncPeriodMs;
    if (existingNatChains === null && !cleanupDue && !isLargeCluster(view) && this.knownNatChains) {
      // Upstream reads `iptables-save -t nat` on every sync to find the chains to delete
      // (10-50 ms at 100 Services here, more than the rest of a partial sync). Between
      // cleanups the chains this proxy left are known; what others add is seen at the next
      // cleanup, at most a sync period later, which is also how large-cluster mode works.
      existingNatChains = [...this.knownNatChains];
    } else if (existingNatChains === null && (!isLargeCluster(view) || cleanupDue)) {
      try {
        existingNatChains = chainsInSave(await ipt.save('nat'));
        this.lastCleanup = Date.now();
      } catch (err) {
        this.o.log(`iptables-save failed, stale chains will not be deleted: ${(err as Error).message}`);
      }
    }
    const result = renderRules(view, options, { full, updatedServices, existingNatChains });
    const m = this.o.metrics;
    m?.rulesTotal.set({ table: 'filter', ip_family: this.family }, result.filterRules);
    m?.rulesLast.set({ table: 'filter', ip_family: this.family }, result.filterRules);
    m?.rulesTotal.set({ table: 'nat', ip_family: this.family }, result.natRulesTotal);
    m?.rulesLast.set({ table: 'nat', ip_family: this.family }, result.natRulesLast);
    try {
      await ipt.restoreAll(result.text);
      // Stale chains were deleted when the existing ones were known; otherwise they stay.
      this.knownNatChains = existingNatChains ? new Set(result.activeNatChains) : this.knownNatChains && new Set([...this.knownNatChains, ...result.activeNatChains]);
    } catch (err) {
      this.knownNatChains = null;
      const line = err instanceof RestoreError ? err.line : null;
      this.o.log(`failed to execute iptables-restore: ${(err as Error).message.split('\n')[0]}${line ? `\n${linesAround(result.text, line)}` : ''}`);
      m?.restoreFailures.inc({ ip_family: this.family });
      return undefined;
    }
    return result;
  }

  /**
   * Upstream ensures each jump rule with `iptables -N` and `iptables -C`/`-I`: ~30 commands
   * on every full sync. The same result from one iptables-save and, when something is
   * missing, one iptables-restore --noflush. Returns the nat table's chains from that save
   * (for the stale chain cleanup), or null when the save failed and the commands were used.
   */
  private async ensureJumpRules(): Promise<string[] | null> {
    const ipt = this.o.iptables;
    const jumps = [...JUMP_CHAINS, ...KUBELET_JUMP_CHAINS];
    let saved;
    try {
      saved = parseSaveTables(await ipt.save());
    } catch (err) {
      this.o.log(`iptables-save failed, ensuring the jump rules one by one: ${(err as Error).message}`);
      for (const j of jumps) {
        await ipt.ensureChain(j.table, j.dstChain);
        await ipt.ensureRule('-I', j.table, j.srcChain, jumpRuleArgs(j));
      }
      return null;
    }
    const plan = planJumpRules(saved, jumps);
    if (plan.text) await ipt.restoreAll(plan.text);
    this.lastCleanup = Date.now();
    return [...(saved.get('nat')?.chains ?? [])];
  }

  private async afterSuccess(result: RenderResult, update: ReturnType<ProxyState['update']>): Promise<void> {
    const m = this.o.metrics;
    for (const times of update.lastChangeTriggerTimes.values()) for (const t of times) m?.networkProgramming.observe({ ip_family: this.family }, (Date.now() - t) / 1000);
    m?.noLocalEndpoints.set({ traffic_policy: 'internal', ip_family: this.family }, result.noLocalEndpoints.internal);
    m?.noLocalEndpoints.set({ traffic_policy: 'external', ip_family: this.family }, result.noLocalEndpoints.external);
    this.o.health?.updated(this.family);
    m?.lastTimestamp.set({ ip_family: this.family }, Date.now() / 1000);
    const sh = this.o.serviceHealth;
    if (sh) {
      await sh.syncServices(healthCheckNodePorts(this.state.servicePorts()));
      sh.syncEndpoints(localReadyEndpoints(this.state.allEndpoints()));
    }
    if (update.conntrackCleanupRequired) {
      const started = performance.now();
      try {
        const n = await cleanStaleUDPEntries(this.o.exec, this.family, this.state.servicePorts(), (k) => this.state.endpointsFor(k));
        m?.conntrackDeleted.inc({ ip_family: this.family }, n);
      } catch (err) {
        this.o.log(`failed to clear stale conntrack entries: ${(err as Error).message}`);
      }
      m?.conntrackLatency.observe({ ip_family: this.family }, (performance.now() - started) / 1000);
    }
  }

  /**
   * Upstream's iptables Monitor: keep an empty KUBE-PROXY-CANARY chain in mangle, nat and
   * filter; when it disappears from mangle (someone flushed the tables), wait until it is
   * gone from the others too, then resync everything.
   */
  private async monitorCanary(): Promise<void> {
    const tables: Table[] = ['mangle', 'nat', 'filter'];
    const ipt = this.o.iptables;
    const wait = (ms: number) => new Promise<void>((r) => (this.canaryTimer = setTimeout(r, ms)));
    while (!this.stopped) {
      try {
        for (const t of tables) await ipt.ensureChain(t, KUBE_PROXY_CANARY);
      } catch (err) {
        this.o.log(`could not set up iptables canary: ${(err as Error).message}`);
        await wait(this.o.syncPeriodMs);
        continue;
      }
      for (;;) {
        await wait(this.o.syncPeriodMs);
        if (this.stopped) return;
        if (!(await ipt.chainExists(tables[0]!, KUBE_PROXY_CANARY).catch(() => true))) break;
      }
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        const left = await Promise.all(tables.slice(1).map((t) => ipt.chainExists(t, KUBE_PROXY_CANARY).catch(() => true)));
        if (!left.some(Boolean)) break;
        await wait(100);
      }
      if (this.stopped) return;
      this.o.log('iptables canary deleted: rules were flushed, resyncing');
      await this.forceSync();
    }
  }
}
