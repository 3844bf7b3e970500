import {
  CoreV1Api,
  DiscoveryV1Api,
  NetworkingV1Api,
  makeInformer,
  type KubeConfig,
  type KubernetesObject,
  type V1EndpointSlice,
  type V1Namespace,
  type V1Node,
  type V1Pod,
  type V1Service,
  type V1ServiceCIDR,
} from '@kubernetes/client-node';

export type WatchedKind = 'Service' | 'EndpointSlice' | 'Node' | 'Namespace' | 'Pod' | 'ServiceCIDR';

export interface KindTypes {
  Service: V1Service;
  EndpointSlice: V1EndpointSlice;
  Node: V1Node;
  Namespace: V1Namespace;
  Pod: V1Pod;
  ServiceCIDR: V1ServiceCIDR;
}

export type WatchEvent<T> = { type: 'add' | 'update'; object: T; old?: T } | { type: 'delete'; object: T };

export interface Watcher<T> {
  /** Current objects, as of the last event. */
  list(): T[];
  /** True once the first list has been received (and stays true across reconnects). */
  readonly synced: boolean;
  /** True while the watch is connected; false after an error until it reconnects. */
  readonly connected: boolean;
  stop(): Promise<void>;
}

export interface WatchOptions<T> {
  onEvent: (ev: WatchEvent<T>) => void;
  onSynced?: () => void;
  /** Called on a watch or list failure; the watcher retries by itself. */
  onError?: (err: unknown) => void;
  labelSelector?: string;
}

/**
 * Watches one kind cluster-wide with an informer, reconnecting with backoff
 * (1 s doubling to 30 s) after errors. Events carry the previous object on update.
 */
export function watchKind<K extends WatchedKind>(kc: KubeConfig, kind: K, opts: WatchOptions<KindTypes[K]>): Watcher<KindTypes[K]> {
  type T = KindTypes[K];
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const networking = kc.makeApiClient(NetworkingV1Api);
  const labelSelector = opts.labelSelector;
  const sources: Record<WatchedKind, [string, () => Promise<{ items: KubernetesObject[]; metadata?: { resourceVersion?: string } }>]> = {
    Service: ['/api/v1/services', () => core.listServiceForAllNamespaces({ labelSelector })],
    EndpointSlice: ['/apis/discovery.k8s.io/v1/endpointslices', () => discovery.listEndpointSliceForAllNamespaces({ labelSelector })],
    Node: ['/api/v1/nodes', () => core.listNode({ labelSelector })],
    Namespace: ['/api/v1/namespaces', () => core.listNamespace({ labelSelector })],
    Pod: ['/api/v1/pods', () => core.listPodForAllNamespaces({ labelSelector })],
    ServiceCIDR: ['/apis/networking.k8s.io/v1/servicecidrs', () => networking.listServiceCIDR({ labelSelector })],
  };
  const [path, listFn] = sources[kind];
  const informer = makeInformer<T>(kc, path, listFn as never, opts.labelSelector);
  const previous = new Map<string, T>();
  const key = (o: T) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
  let synced = false;
  let connected = false;
  let stopped = false;
  let backoffMs = 1000;
  let retry: NodeJS.Timeout | undefined;

  informer.on('add', (o) => {
    previous.set(key(o), o);
    opts.onEvent({ type: 'add', object: o });
  });
  informer.on('update', (o) => {
    const old = previous.get(key(o));
    previous.set(key(o), o);
    opts.onEvent({ type: 'update', object: o, old });
  });
  informer.on('delete', (o) => {
    previous.delete(key(o));
    opts.onEvent({ type: 'delete', object: o });
  });
  const failed = (err: unknown) => {
    connected = false;
    opts.onError?.(err);
    if (stopped || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      void start();
    }, backoffMs);
    backoffMs = Math.min(backoffMs * 2, 30_000);
  };
  informer.on('error', failed);

  const start = async () => {
    if (stopped) return;
    try {
      await informer.start();
    } catch (err) {
      failed(err);
      return;
    }
    if (retry) return; // the list failed and reported through the error callback
    connected = true;
    backoffMs = 1000;
    if (!synced) {
      synced = true;
      opts.onSynced?.();
    }
  };
  void start();

  return {
    list: () => [...informer.list()],
    get synced() {
      return synced;
    },
    get connected() {
      return connected;
    },
    async stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      await informer.stop();
    },
  };
}
