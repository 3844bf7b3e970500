// One IP family of the nftables proxier (upstream's single-stack nftables Proxier): the
// change trackers feed a BoundedFrequencyRunner; each sync builds one transaction (full,
// or partial with only the changed services' chains and the changed elements) and
// applies it atomically with `nft -f -`; stale chains are flushed, then deleted in a
// transaction of their own a second later. A failed sync changes nothing in the kernel,
// is retried after --iptables-sync-period as a full sync, and after 2 × that period
// without success /healthz reports unhealthy.
import type { IPFamily } from '../../core/proxy/ip.ts';
import { isAffinitySetName } from '../../core/proxy/nftables/names.ts';
import { nftRenderOptionsFor } from '../../core/proxy/nftables/options.ts';
import { emptyTable } from '../../core/proxy/nftables/render.ts';
import { NftSyncState, buildSyncTransaction, nftFamily, staleChainsTransaction, type ExistingObjects, type NftRenderOptions, type SyncResult } from '../../core/proxy/nftables/sync.ts';
import type { Transaction } from '../../core/proxy/nftables/transaction.ts';
import type { ProxySettings } from '../../core/proxy/options.ts';
import { LABEL_TOPOLOGY_ZONE, type Node } from '../../core/proxy/types.ts';
import { UserError } from '../../errors.ts';
import { cleanStaleUDPEntries } from '../conntrack.ts';
import type { Exec } from '../exec.ts';
import type { ProxyHealth } from '../health.ts';
import { linesAround } from '../iptables.ts';
import type { LogLine } from '../log.ts';
import type { ProxyMetrics } from '../metrics.ts';
import { FULL_SYNC_PERIOD_MS } from '../proxier.ts';
import type { NftablesMetrics } from './metrics.ts';
import { NftRunError, type Nft } from './nft.ts';
import { SyncLoop } from '../sync-loop.ts';

export interface FamilyProxierOptions {
  family: IPFamily;
  /** The command-line settings; nftables mode's defaults are applied here. */
  settings: ProxySettings;
  node: Node | null;
  nft: Nft;
  /** Runs `conntrack`, where the rules are. */
  exec: Exec;
  metrics?: ProxyMetrics | null;
  nftMetrics?: NftablesMetrics | null;
  health?: ProxyHealth | null;
  /** The node's interface addresses, read on full syncs when --nodeport-addresses selects among them. */
  interfaceAddresses?: () => Promise<string[]>;
  syncPeriodMs: number;
  minSyncPeriodMs: number;
  log: LogLine;
  warn: (key: string, message: string) => void;
  /** After every successful sync (the service health servers are updated there). */
  afterSuccess?: () => Promise<void>;
  /** Called after every sync attempt (tests wait on it). */
  onSynced?: (r: { ok: boolean; full: boolean; result?: SyncResult }) => void;
  now?: () => number;
}

/** What the proxier knows the table holds after its last successful transaction. */
interface Known {
  chains: Set<string>;
  affinitySets: Set<string>;
}

export class FamilyProxier extends SyncLoop {
  readonly sync = new NftSyncState();
  private readonly o: FamilyProxierOptions;
  private readonly now: () => number;
  private options: NftRenderOptions;
  private serviceCIDRs: string[] = [];
  private topologyZone: string | undefined;
  private needFullSync = true;
  private lastFullSync = 0;
  private known: Known | null = null;
  /** The last main transaction built (run, or skipped when empty). */
  lastTransaction: Transaction | null = null;

  constructor(o: FamilyProxierOptions) {
    // The change metrics are counted once for both families, by NftablesProxier.
    super({ family: o.family, nodeName: o.settings.nodeName, warn: o.warn, metrics: o.metrics, health: o.health, minSyncPeriodMs: o.minSyncPeriodMs, retryIntervalMs: o.syncPeriodMs, maxIntervalMs: FULL_SYNC_PERIOD_MS, now: o.now, countChanges: false });
    this.o = o;
    this.now = o.now ?? Date.now;
    this.options = nftRenderOptionsFor(o.settings, o.node, this.family, []);
    this.topologyZone = o.node?.metadata?.labels?.[LABEL_TOPOLOGY_ZONE];
  }

  /** A new topology zone makes the next sync a full one (upstream OnTopologyChange). */
  onNode(node: Node | null): void {
    const zone = node?.metadata?.labels?.[LABEL_TOPOLOGY_ZONE];
    if (node && zone !== this.topologyZone) {
      this.topologyZone = zone;
      this.options = { ...this.options, topologyLabels: zone === undefined ? {} : { [LABEL_TOPOLOGY_ZONE]: zone } };
      this.needFullSync = true;
      this.queueSync();
    }
  }

  /** The cluster's ServiceCIDRs (all families); used from the next full sync on, like upstream. */
  setServiceCIDRs(cidrs: string[]): void {
    this.serviceCIDRs = cidrs;
  }

  /** A full resync at the next sync, whatever changed. */
  forceFullSync(): void {
    this.needFullSync = true;
  }

  start(): void {
    this.o.health?.updated(this.family);
    this.o.metrics?.lastQueuedTimestamp.set({ ip_family: this.family }, this.now() / 1000);
    void this.runner.loop();
  }

  stop(): void {
    this.stopped = true;
    this.runner.stop();
  }

  protected async doSync(): Promise<boolean> {
    if (!this.initialized || this.stopped) return true;
    const started = performance.now();
    const start = this.now();
    let full = this.needFullSync || start - this.lastFullSync > FULL_SYNC_PERIOD_MS;
    const update = this.state.update();
    this.o.metrics?.serviceChangesPending.set(0);
    this.o.metrics?.endpointChangesPending.set(0);
    const fam = { ip_family: this.family };

    const stale = staleChainsTransaction(this.sync, this.family, start);
    if (stale) {
      this.o.log(`deleting ${stale.chains.length} stale nftables chains (${this.family})`);
      try {
        await this.o.nft.run(stale.tx.toString());
        for (const c of stale.chains) this.known?.chains.delete(c);
      } catch (err) {
        if (err instanceof UserError) throw err;
        // They are found stale again (with a new time) by this sync's full listing.
        this.o.log(`unable to delete stale chains; will retry later: ${(err as Error).message.split('\n')[0]}`);
        this.o.nftMetrics?.cleanupFailures.inc(fam);
        full = true;
      }
    }

    let ok = false;
    let result: SyncResult | undefined;
    try {
      const existing = full || this.known === null ? await this.readTable() : { chains: new Set(this.known.chains), affinitySets: new Set(this.known.affinitySets) };
      if (full) this.options = await this.fullSyncOptions();
      const view = { servicePorts: this.state.servicePorts(), endpointsFor: (k: string) => this.state.endpointsFor(k) };
      result = buildSyncTransaction(view, this.options, this.sync, { full, updatedServices: update.updatedServices, now: start }, existing);
      for (const ip of result.ignoredLoopbackNodePortIPs) this.o.warn(`nft-loopback-np:${ip}`, `--nodeport-addresses includes localhost but localhost NodePorts are not supported (address ${ip})`);
      this.lastTransaction = result.tx;
      if (result.tx.numOperations > 0) await this.o.nft.run(result.tx.toString());
      this.known = {
        chains: new Set([...(existing.chains ?? []), ...result.activeChains]),
        affinitySets: new Set([...[...(existing.affinitySets ?? [])].filter((s) => !result!.deletedAffinitySets.includes(s)), ...addedAffinitySets(result.tx)]),
      };
      ok = true;
    } catch (err) {
      if (err instanceof UserError) throw err;
      const line = err instanceof NftRunError ? err.line : null;
      this.o.log(`nftables sync failed (${this.family}): ${(err as Error).message.split('\n')[0]}${line && result ? `\n${linesAround(result.tx.toString(), line)}` : ''}`);
      this.o.nftMetrics?.syncFailures.inc(fam);
      // Nothing was applied: what the stale-chain and element bookkeeping believes is now
      // wrong, and the trackers' changes are consumed. Only a full sync can catch up.
      this.sync.staleChains.clear();
      this.known = null;
    }

    if (ok) {
      this.needFullSync = false;
      if (full) this.lastFullSync = start;
      await this.afterSuccess(result!, update.lastChangeTriggerTimes, update.conntrackCleanupRequired);
    } else {
      this.needFullSync = true;
      this.o.log(`sync failed; retrying in ${this.o.syncPeriodMs / 1000}s with a full sync`);
    }
    const secs = (performance.now() - started) / 1000;
    this.o.metrics?.syncLatency.observe(fam, secs);
    (full ? this.o.metrics?.syncFullLatency : this.o.metrics?.syncPartialLatency)?.observe(fam, secs);
    this.o.onSynced?.({ ok, full, result });
    return ok;
  }

  /** What the table holds now, for a full sync; a listing that fails means: flush and rewrite. */
  private async readTable(): Promise<ExistingObjects> {
    try {
      const listing = await this.o.nft.listTable(nftFamily(this.family));
      if (!listing) return emptyTable();
      return { chains: listing.chains, affinitySets: new Set([...listing.sets].filter(isAffinitySetName)), elements: listing.elements };
    } catch (err) {
      if (err instanceof UserError) throw err;
      this.o.log(`failed to list the nftables table (${this.family}), rewriting its sets and maps: ${(err as Error).message.split('\n')[0]}`);
      return { chains: null, affinitySets: null };
    }
  }

  private async fullSyncOptions(): Promise<NftRenderOptions> {
    let addresses: string[] = [];
    if (this.o.interfaceAddresses) {
      try {
        addresses = await this.o.interfaceAddresses();
      } catch (err) {
        this.o.log(`failed to get node ip address matching nodeport cidrs, services with nodeport may not work as intended: ${(err as Error).message}`);
      }
    }
    const o = nftRenderOptionsFor(this.o.settings, this.o.node, this.family, this.serviceCIDRs, addresses);
    return { ...o, topologyLabels: this.options.topologyLabels };
  }

  private async afterSuccess(result: SyncResult, triggerTimes: Map<string, number[]>, conntrackCleanup: boolean): Promise<void> {
    const m = this.o.metrics;
    const fam = { ip_family: this.family };
    const now = this.now();
    for (const times of triggerTimes.values()) for (const t of times) m?.networkProgramming.observe(fam, (now - t) / 1000);
    m?.noLocalEndpoints.set({ traffic_policy: 'internal', ip_family: this.family }, result.noLocalEndpoints.internal);
    m?.noLocalEndpoints.set({ traffic_policy: 'external', ip_family: this.family }, result.noLocalEndpoints.external);
    this.o.health?.updated(this.family);
    m?.lastTimestamp.set(fam, now / 1000);
    await this.o.afterSuccess?.();
    if (conntrackCleanup) {
      const started = performance.now();
      try {
        const n = await cleanStaleUDPEntries(this.o.exec, this.family, this.state.servicePorts(), (k) => this.state.endpointsFor(k));
        m?.conntrackDeleted.inc(fam, n);
      } catch (err) {
        this.o.log(`failed to clear stale conntrack entries: ${(err as Error).message}`);
      }
      m?.conntrackLatency.observe(fam, (performance.now() - started) / 1000);
    }
  }
}

function addedAffinitySets(tx: Transaction): string[] {
  return tx.operations.filter((op) => op.verb === 'add' && op.obj.kind === 'set' && isAffinitySetName(op.obj.name)).map((op) => (op.obj as { name: string }).name);
}
