// The IPVS proxier (upstream pkg/proxy/ipvs Proxier): event handlers feed the change
// trackers, syncs are batched by a BoundedFrequencyRunner and are always full, as
// upstream's. A sync renders what it wants (core/proxy/ipvs) and turns the node into it:
// the jump rules, kube-ipvs0 and its addresses, the virtual and real servers (ipvsadm),
// the ipsets (ipset restore), the fixed iptables rules (iptables-restore --noflush), then
// unbinds stale addresses and deletes stale virtual servers. Real servers whose endpoint
// went away keep their TCP connections at weight 0 until they end (graceful termination).
import { DUMMY_DEVICE } from '../../core/proxy/ipvs/names.ts';
import { excludeCIDRsFor, ipvsRenderOptionsFor, type IpvsSettings } from '../../core/proxy/ipvs/options.ts';
import { renderIpvs, type IpvsRenderResult } from '../../core/proxy/ipvs/render.ts';
import { parseIpvsList, parseIpvsSave, planIpvs, planRemovals, type Removal } from '../../core/proxy/ipvs/virtual-servers.ts';
import { ipvsadm as ipvsadmLine } from '../../core/proxy/ipvs/virtual-servers.ts';
import type { IPFamily } from '../../core/proxy/ip.ts';
import type { ProxySettings } from '../../core/proxy/options.ts';
import { healthCheckNodePorts, localReadyEndpoints } from '../../core/proxy/service-health.ts';
import type { ProxyState } from '../../core/proxy/tracker.ts';
import { LABEL_TOPOLOGY_ZONE, type Node } from '../../core/proxy/types.ts';
import { oneLine } from '../../errors.ts';
import { cleanStaleUDPEntries } from '../conntrack.ts';
import type { Exec } from '../exec.ts';
import type { ProxyHealth } from '../health.ts';
import { RestoreError, linesAround, type Iptables } from '../iptables.ts';
import { onceLogger, type LogLine } from '../log.ts';
import type { ModeProxier } from '../mode.ts';
import type { ProxyMetrics } from '../metrics.ts';
import type { ServiceHealthServer } from '../service-health.ts';
import { addressPlan, ensureDevice, ensureJumpRules, readAddresses, syncIpsets } from './apply.ts';
import type { IpLinks, Ipset, Ipvsadm } from './tools.ts';
import { SyncLoop } from '../sync-loop.ts';

/** Upstream rsCheckDeleteInterval: how often draining real servers are looked at. */
export const GRACEFUL_CHECK_MS = 60_000;

export interface IpvsProxierOptions {
  settings: ProxySettings;
  ipvs: IpvsSettings;
  node: Node | null;
  family?: IPFamily;
  iptables: Iptables;
  ipvsadm: Ipvsadm;
  ipset: Ipset;
  links: IpLinks;
  /** Runs `conntrack`. */
  exec: Exec;
  metrics?: ProxyMetrics | null;
  health?: ProxyHealth | null;
  serviceHealth?: ServiceHealthServer | null;
  syncPeriodMs: number;
  minSyncPeriodMs: number;
  gracefulCheckMs?: number;
  log: LogLine;
  /** Called after every sync attempt (tests wait on it). */
  onSynced?: (r: { ok: boolean; result?: IpvsRenderResult }) => void;
}

export class IpvsProxier extends SyncLoop implements ModeProxier {
  readonly mode = 'ipvs' as const;
  private readonly o: IpvsProxierOptions;
  private initialSync = true;
  private topologyLabels: Record<string, string>;
  private node: Node | null;
  /** Real servers draining at weight 0, by upstream's unique name ("VIP:PORT/PROTO/RIP:RPORT"). */
  private readonly graceful = new Map<string, Removal>();
  private gracefulTimer: NodeJS.Timeout | null = null;
  readonly warn: (key: string, message: string) => void;

  constructor(o: IpvsProxierOptions) {
    const warn = onceLogger(o.log);
    // Upstream: NewBoundedFrequencyRunner(minSyncPeriod, syncPeriod, syncPeriod).
    super({ family: o.family ?? 'IPv4', nodeName: o.settings.nodeName, warn, metrics: o.metrics, health: o.health, minSyncPeriodMs: o.minSyncPeriodMs, retryIntervalMs: o.syncPeriodMs, maxIntervalMs: o.syncPeriodMs });
    this.o = o;
    this.warn = warn;
    this.node = o.node;
    const zone = o.node?.metadata?.labels?.[LABEL_TOPOLOGY_ZONE];
    this.topologyLabels = zone === undefined ? {} : { [LABEL_TOPOLOGY_ZONE]: zone };
  }

  /** The real servers being drained now. */
  get draining(): string[] {
    return [...this.graceful.keys()].sort();
  }

  /** Upstream OnTopologyChange: a new zone label means a sync. */
  onNode(node: Node | null): void {
    if (this.o.health) this.o.health.node = node;
    if (!node) return;
    this.node = node;
    const zone = node.metadata?.labels?.[LABEL_TOPOLOGY_ZONE];
    if (zone !== this.topologyLabels[LABEL_TOPOLOGY_ZONE]) {
      this.topologyLabels = zone === undefined ? {} : { [LABEL_TOPOLOGY_ZONE]: zone };
      this.queueSync();
    }
  }

  start(): void {
    this.o.health?.updated(this.family);
    this.o.metrics?.lastQueuedTimestamp.set({ ip_family: this.family }, Date.now() / 1000);
    void this.runner.loop();
    const every = this.o.gracefulCheckMs ?? GRACEFUL_CHECK_MS;
    const tick = () => {
      this.gracefulTimer = setTimeout(() => {
        void this.drainGraceful().finally(() => {
          if (!this.stopped) tick();
        });
      }, every);
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    this.runner.stop();
    if (this.gracefulTimer) clearTimeout(this.gracefulTimer);
  }

  /** One sync; syncs never overlap. Resolves false when it failed (retried after the sync period). */
  protected async doSync(): Promise<boolean> {
    if (!this.initialized || this.stopped) return true;
    const started = performance.now();
    const update = this.state.update();
    this.o.metrics?.serviceChangesPending.set(0);
    this.o.metrics?.endpointChangesPending.set(0);
    let result: IpvsRenderResult | undefined;
    try {
      result = await this.apply();
    } catch (err) {
      this.o.log(`sync failed: ${oneLine(err)}`);
    }
    const ok = result !== undefined;
    if (ok) {
      this.initialSync = false;
      await this.afterSuccess(result!, update);
    } else {
      this.o.log(`sync failed; retrying in ${this.o.syncPeriodMs / 1000}s`);
    }
    this.o.metrics?.syncLatency.observe({ ip_family: this.family }, (performance.now() - started) / 1000);
    this.o.onSynced?.({ ok, result });
    return ok;
  }

  private async apply(): Promise<IpvsRenderResult | undefined> {
    const o = this.o;
    await ensureJumpRules(o.iptables);
    await ensureDevice(o.links);
    const now = await readAddresses(o.links, this.family);
    const options = {
      ...ipvsRenderOptionsFor({ ...o.settings, randomFully: o.iptables.hasRandomFully }, o.ipvs, this.node, now, this.family),
      topologyLabels: this.topologyLabels,
    };
    const result = renderIpvs({ servicePorts: this.state.servicePorts(), endpointsFor: (k) => this.state.endpointsFor(k) }, options);

    // Virtual and real servers, and their addresses on kube-ipvs0 (upstream syncService/syncEndpoint).
    const plan = planIpvs(result.virtualServers, parseIpvsSave(await o.ipvsadm.save()), {
      family: this.family,
      excludeCIDRs: excludeCIDRsFor(o.ipvs),
      graceful: new Set(this.graceful.keys()),
      initialSync: this.initialSync,
    });
    await o.ipvsadm.restore(plan.commands).catch((err: Error) => o.log(`failed to sync IPVS virtual servers: ${oneLine(err)}`));
    for (const name of plan.revived) this.graceful.delete(name);
    const addresses = addressPlan(result.bindAddresses, now);
    await o.links.batch(addresses.bindText).catch((err: Error) => o.log(`failed to bind service addresses to ${DUMMY_DEVICE}: ${oneLine(err)}`));
    if (plan.removals.length) await this.removeRealServers(plan.removals);

    const ipsets = await syncIpsets(o.ipset, result.ipsets);
    if (ipsets.swapped.length || ipsets.recreated.length) o.log(`rebuilt ipsets created with other parameters: ${[...ipsets.swapped, ...ipsets.recreated].join(', ')}`);

    try {
      await o.iptables.restoreAll(result.iptables);
    } catch (err) {
      const line = err instanceof RestoreError ? err.line : null;
      o.log(`failed to execute iptables-restore: ${oneLine(err)}${line ? `\n${linesAround(result.iptables, line)}` : ''}`);
      o.metrics?.restoreFailures.inc({ ip_family: this.family });
      return undefined;
    }

    await o.links.batch(addresses.unbindText).catch((err: Error) => o.log(`failed to unbind addresses from ${DUMMY_DEVICE}: ${oneLine(err)}`));
    if (plan.staleServices.length) {
      await o.ipvsadm.restore(plan.staleServices.map((vs) => ipvsadmLine.deleteService(vs))).catch((err: Error) => o.log(`failed to delete stale IPVS virtual servers: ${oneLine(err)}`));
    }
    return result;
  }

  /** Upstream GracefulDeleteRS: delete now, or drain at weight 0 while TCP connections remain. */
  private async removeRealServers(candidates: Removal[]): Promise<void> {
    const conns = parseIpvsList(await this.o.ipvsadm.list());
    const r = planRemovals(candidates, conns);
    await this.o.ipvsadm.restore(r.commands).catch((err: Error) => this.o.log(`failed to remove IPVS real servers: ${oneLine(err)}`));
    for (const d of r.draining) this.graceful.set(d.name, d);
  }

  /** Upstream tryDeleteRs: every minute, delete the draining real servers whose connections are gone. */
  async drainGraceful(): Promise<void> {
    if (this.graceful.size === 0) return;
    await this.syncing;
    try {
      const r = planRemovals([...this.graceful.values()], parseIpvsList(await this.o.ipvsadm.list()));
      await this.o.ipvsadm.restore(r.commands);
      for (const n of [...r.deleted, ...r.gone]) this.graceful.delete(n);
    } catch (err) {
      this.o.log(`failed to delete draining IPVS real servers: ${oneLine(err)}`);
    }
  }

  private async afterSuccess(result: IpvsRenderResult, update: ReturnType<ProxyState['update']>): Promise<void> {
    const m = this.o.metrics;
    for (const times of update.lastChangeTriggerTimes.values()) for (const t of times) m?.networkProgramming.observe({ ip_family: this.family }, (Date.now() - t) / 1000);
    this.o.health?.updated(this.family);
    m?.lastTimestamp.set({ ip_family: this.family }, Date.now() / 1000);
    const sh = this.o.serviceHealth;
    if (sh) {
      await sh.syncServices(healthCheckNodePorts(this.state.servicePorts()));
      sh.syncEndpoints(localReadyEndpoints(this.state.allEndpoints()));
    }
    m?.noLocalEndpoints.set({ traffic_policy: 'internal', ip_family: this.family }, result.noLocalEndpoints.internal);
    m?.noLocalEndpoints.set({ traffic_policy: 'external', ip_family: this.family }, result.noLocalEndpoints.external);
    if (update.conntrackCleanupRequired) {
      try {
        const n = await cleanStaleUDPEntries(this.o.exec, this.family, this.state.servicePorts(), (k) => this.state.endpointsFor(k));
        m?.conntrackDeleted.inc({ ip_family: this.family }, n);
      } catch (err) {
        this.o.log(`failed to clear stale conntrack entries: ${oneLine(err)}`);
      }
    }
  }
}
