// The sync side every proxier shares, whatever its mode (upstream: each Proxier's
// OnService*/OnEndpointSlice* handlers, isInitialized, Sync and its BoundedFrequencyRunner):
// changes go into a ProxyState, syncs are queued once both informers have synced, and
// syncs never overlap. A mode supplies doSync().
import type { IPFamily } from '../core/proxy/ip.ts';
import { ProxyState } from '../core/proxy/tracker.ts';
import type { EndpointSlice, Service } from '../core/proxy/types.ts';
import { BoundedFrequencyRunner } from './bounded-runner.ts';
import type { ProxyHealth } from './health.ts';
import type { ProxyMetrics } from './metrics.ts';

export interface SyncLoopOptions {
  family: IPFamily;
  nodeName: string;
  warn: (key: string, message: string) => void;
  metrics?: ProxyMetrics | null;
  health?: ProxyHealth | null;
  /** The BoundedFrequencyRunner's bounds: at most one sync per min, a retry after a failure, at least one per max. */
  minSyncPeriodMs: number;
  retryIntervalMs: number;
  maxIntervalMs: number;
  /** The clock of the last-queued timestamp (tests). */
  now?: () => number;
  /** Whether the handlers count changes in the change metrics; false where one proxier drives several families and counts once. */
  countChanges?: boolean;
}

export abstract class SyncLoop {
  readonly family: IPFamily;
  readonly state: ProxyState;
  protected readonly runner: BoundedFrequencyRunner;
  protected stopped = false;
  /** The sync running now (or the last one); the next one waits for it. */
  protected syncing: Promise<boolean> = Promise.resolve(true);
  private servicesSynced = false;
  private endpointSlicesSynced = false;
  private readonly loop: SyncLoopOptions;

  constructor(loop: SyncLoopOptions) {
    this.loop = loop;
    this.family = loop.family;
    this.state = new ProxyState(loop.family, loop.nodeName, loop.warn);
    this.runner = new BoundedFrequencyRunner(() => this.syncProxyRules(), loop.minSyncPeriodMs, loop.retryIntervalMs, loop.maxIntervalMs);
  }

  /** One sync of this mode's rules; false when it failed (the runner retries). */
  protected abstract doSync(): Promise<boolean>;

  protected get initialized(): boolean {
    return this.servicesSynced && this.endpointSlicesSynced;
  }

  /** Queues a sync (upstream Proxier.Sync). */
  queueSync(): void {
    this.loop.health?.queuedUpdate(this.family);
    this.loop.metrics?.lastQueuedTimestamp.set({ ip_family: this.family }, (this.loop.now ?? Date.now)() / 1000);
    this.runner.run();
  }

  onServiceUpdate(previous: Service | null, current: Service | null): void {
    const m = this.loop.countChanges === false ? null : this.loop.metrics;
    m?.serviceChangesTotal.inc();
    const pending = this.state.onService(previous, current);
    m?.serviceChangesPending.set(this.state.pendingServiceChanges);
    if (pending && this.initialized) this.queueSync();
  }

  onEndpointSliceUpdate(slice: EndpointSlice, removed: boolean): void {
    const m = this.loop.countChanges === false ? null : this.loop.metrics;
    m?.endpointChangesTotal.inc();
    const changed = this.state.onEndpointSlice(slice, removed);
    m?.endpointChangesPending.set(this.state.pendingEndpointChanges);
    if (changed && this.initialized) this.queueSync();
  }

  /** Called once each when the first lists arrive; each syncs unconditionally, like upstream. */
  onServicesSynced(): Promise<boolean> {
    this.servicesSynced = true;
    return this.syncProxyRules();
  }

  onEndpointSlicesSynced(): Promise<boolean> {
    this.endpointSlicesSynced = true;
    return this.syncProxyRules();
  }

  /** One sync now; syncs never overlap. */
  syncProxyRules(): Promise<boolean> {
    const next = this.syncing.then(() => this.doSync());
    this.syncing = next.catch(() => false);
    return next;
  }
}
