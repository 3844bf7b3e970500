// Where the DNS server's cluster state comes from: informers on a live API server, or a
// state file (a kubectl List) that is read again whenever it changes.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ClusterIndex, Kind } from '../core/dns/cluster-index.ts';
import { isHeadless, lastChangeTriggerTime, type EndpointSliceLike } from '../core/dns/model.ts';
import { oneLine } from '../errors.ts';
import { watchKind, type WatchEvent, type Watcher } from '../kube/informers.ts';
import { readStateFile } from '../kube/state-file.ts';
import type { DnsMetrics } from './metrics.ts';

export interface Source {
  /** True while the state is current: synced and (for a live source) connected. */
  ready(): boolean;
  stop(): Promise<void>;
}

/** Serves a state file, re-reading it when it changes; a file that fails to parse keeps the last good state. */
export async function fileSource(path: string, index: ClusterIndex, log: (m: string) => void): Promise<Source> {
  const load = async () => {
    const objects = await readStateFile(path);
    index.replaceAll(objects);
    index.synced = true;
  };
  await load();
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), (_event, file) => {
      if (file && file.toString() !== basename(path)) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        load().then(
          () => log(`reloaded ${path}: ${JSON.stringify(index.counts)}`),
          (err) => log(`kept the previous state: ${oneLine(err)}`),
        );
      }, 150);
    });
  } catch (err) {
    log(`cannot watch ${path} for changes: ${oneLine(err)}`);
  }
  return {
    ready: () => true,
    async stop() {
      if (timer) clearTimeout(timer);
      watcher?.close();
    },
  };
}

/**
 * Applies one informer event to the index. An EndpointSlice of a headless service that
 * carries the endpoints controller's last-change-trigger-time is then observed as CoreDNS's
 * DNS programming latency (plugin/kubernetes/object/metrics.go): the time from that change
 * to now, when this server answers with it.
 */
export function applyEvent(index: ClusterIndex, kind: Kind, e: WatchEvent<unknown>, metrics?: DnsMetrics, now = Date.now()): void {
  if (e.type === 'delete') index.delete(kind, e.object);
  else index.upsert(kind, e.object);
  if (kind !== 'EndpointSlice' || !metrics) return;
  const slice = e.object as EndpointSliceLike;
  const triggered = lastChangeTriggerTime(slice);
  const serviceName = slice.metadata?.labels?.['kubernetes.io/service-name'];
  const svc = serviceName === undefined ? undefined : index.service(serviceName, slice.metadata?.namespace ?? 'default');
  // A trigger time is set only by the endpoints controller, so the service has a selector.
  if (triggered !== undefined && svc && isHeadless(svc)) metrics.programming.observe({ service_kind: 'headless_with_selector' }, (now - triggered) / 1000);
}

/** Watches Services, EndpointSlices and Namespaces (and Pods when `pods verified`) through informers. */
export function liveSource(kc: KubeConfig, index: ClusterIndex, opts: { pods: boolean; log: (m: string) => void; metrics?: DnsMetrics; onChange?: () => void }): Source {
  const kinds: Kind[] = ['Service', 'EndpointSlice', 'Namespace', ...(opts.pods ? (['Pod'] as Kind[]) : [])];
  const synced = new Set<Kind>();
  const watchers: Watcher<unknown>[] = kinds.map((kind) =>
    watchKind(kc, kind, {
      onEvent: (e) => {
        applyEvent(index, kind, e as WatchEvent<unknown>, opts.metrics);
        opts.onChange?.();
      },
      onSynced: () => {
        synced.add(kind);
        if (synced.size === kinds.length) {
          index.synced = true;
          opts.log(`synced: ${JSON.stringify(index.counts)}`);
        }
      },
      onError: (err) => opts.log(`${kind} watch: ${oneLine(err)} (serving the last known state)`),
    }) as Watcher<unknown>,
  );
  return {
    ready: () => index.synced && watchers.every((w) => w.connected),
    async stop() {
      await Promise.all(watchers.map((w) => w.stop()));
    },
  };
}
