// Runs the proxy against an API server: this node's Node object, informers for Services
// and EndpointSlices (skipping the ones upstream skips), the sync loop, the canary
// monitor, /healthz and /livez, and /metrics. Used by `svclab proxy run` and the DaemonSet.
import { EventsV1Api, V1MicroTime, type KubeConfig, type V1EndpointSlice, type V1Node, type V1Service } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { NFACCT_CT_STATE_INVALID_DROPPED } from '../core/proxy/chains.ts';
import { nodeHostIPs, nodePortAddressesFor, nodePortIPsFor, renderOptionsFor, type ProxySettings } from '../core/proxy/options.ts';
import type { EndpointSlice, Node, Service } from '../core/proxy/types.ts';
import { watchKind, type Watcher } from '../kube/informers.ts';
import { hostExec, type Exec } from './exec.ts';
import { ProxyHealth, serveHealth, serveMetrics } from './health.ts';
import { detectBackend, newIptables, type Backend } from './iptables.ts';
import type { LogLine } from './log.ts';
import { newMetrics } from './metrics.ts';
import { newNfacct } from './nfacct.ts';
import { cleanupOtherModes } from './cleanup.ts';
import type { ModeProxier, ProxyMode } from './mode.ts';
import { modeImplementation } from './modes.ts';
import { Proxier } from './proxier.ts';
import { interfaceAddresses, ServiceHealthServer } from './service-health.ts';
import { parseIpAddr } from './trace-source.ts';
import type { UserspaceOptions } from './userspace/flags.ts';

export interface RunProxyOptions {
  kubeconfig: KubeConfig;
  settings: ProxySettings;
  /** Upstream --proxy-mode (default iptables). */
  proxyMode?: ProxyMode;
  syncPeriodMs: number;
  minSyncPeriodMs: number;
  /** "host:port", or "" for none. */
  healthzBindAddress: string;
  metricsBindAddress: string;
  /** Where iptables, conntrack, nfacct and sysctl run (default: this process's namespace). */
  exec?: Exec;
  backend?: Backend;
  /** Where the node's /proc/sys is mounted, when not at /proc/sys (see sysctl()). */
  procSys?: string;
  /** How long to wait for this node's Node object to have addresses (upstream: 30 s). */
  nodeWaitMs?: number;
  /** --proxy-port-range and --udp-timeout (userspace mode). */
  userspace?: UserspaceOptions;
  log: LogLine;
}

export interface RunningProxy {
  proxier: ModeProxier;
  backend: Backend;
  stop(): Promise<void>;
}

/** The label selector of upstream's informers: objects for other proxies and headless services are not ours. */
export const INFORMER_LABEL_SELECTOR = '!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless';

export function splitHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(addr.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad address ${JSON.stringify(addr)}: expected host:port`);
  return { host: host || '0.0.0.0', port };
}

/**
 * Reads (and with `value`, sets) a sysctl: through `sysctl` where the proxy's commands
 * run, or, with procSys, through files under it (a pod mounts the node's /proc/sys there,
 * since its own /proc/sys is read-only without privileges).
 */
async function sysctl(exec: Exec, procSys: string | undefined, name: string, value?: number): Promise<number | null> {
  if (procSys) {
    const path = join(procSys, ...name.split('.'));
    if (value !== undefined) await writeFile(path, `${value}\n`).catch(() => {});
    const text = await readFile(path, 'utf8').catch(() => null);
    return text === null ? null : Number(text.trim());
  }
  if (value !== undefined) await exec('sysctl', ['-qw', `${name}=${value}`], { allowFailure: true });
  const r = await exec('sysctl', ['-n', name], { allowFailure: true }).catch(() => null);
  return r && r.code === 0 ? Number(r.stdout.trim()) : null;
}

async function waitForNode(kc: KubeConfig, name: string, waitMs: number, onNode: (n: Node | null) => void): Promise<{ watcher: Watcher<V1Node>; node: Node | null }> {
  let current: Node | null = null;
  let resolveFirst: (() => void) | null = null;
  const hasIPs = () => current !== null && nodeHostIPs(current).length > 0;
  const watcher = watchKind(kc, 'Node', {
    onEvent: (ev) => {
      if (ev.object.metadata?.name !== name) return;
      current = ev.type === 'delete' ? null : (ev.object as Node);
      onNode(current);
      if (hasIPs()) resolveFirst?.();
    },
  });
  if (!hasIPs()) {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      resolveFirst = resolve;
      timer = setTimeout(resolve, waitMs);
    });
    // Left running, the timer would keep a stopped proxy's process alive for up to waitMs.
    clearTimeout(timer);
  }
  resolveFirst = null;
  return { watcher, node: current };
}

export async function runProxy(o: RunProxyOptions): Promise<RunningProxy> {
  const exec = o.exec ?? hostExec;
  let proxier: ModeProxier | null = null;
  let health: ProxyHealth | null = null;
  const { watcher: nodeWatcher, node } = await waitForNode(o.kubeconfig, o.settings.nodeName, o.nodeWaitMs ?? 30_000, (n) => {
    proxier?.onNode(n);
    if (health) health.node = n;
  });
  if (!node) o.log(`timed out waiting for node ${JSON.stringify(o.settings.nodeName)} to exist; assuming its IP is loopback`);

  const settings = { ...o.settings };
  if (settings.conntrackTCPBeLiberal) await sysctl(exec, o.procSys, 'net.netfilter.nf_conntrack_tcp_be_liberal', 1);
  else if (((await sysctl(exec, o.procSys, 'net.netfilter.nf_conntrack_tcp_be_liberal')) ?? 0) !== 0) {
    o.log('nf_conntrack_tcp_be_liberal set, not installing DROP rules for INVALID packets');
    settings.conntrackTCPBeLiberal = true;
  }
  // nftables mode has no localhost NodePorts, and upstream leaves route_localnet alone there.
  if (o.proxyMode !== 'nftables' && renderOptionsFor(settings, node).localhostNodePorts) {
    o.log('setting route_localnet=1 to allow node-ports on localhost; to change this either disable --iptables-localhost-nodeports or set --nodeport-addresses');
    if ((await sysctl(exec, o.procSys, 'net.ipv4.conf.all.route_localnet', 1)) !== 1) o.log('could not set net.ipv4.conf.all.route_localnet=1: NodePorts on 127.0.0.1 will not work');
  }

  const backend = o.backend ?? (await detectBackend(exec));
  const iptables = newIptables(exec, backend, true);
  const nfacct = newNfacct(exec);
  const nfacctWorks = await nfacct.ensure(NFACCT_CT_STATE_INVALID_DROPPED);
  const metrics = newMetrics(nfacctWorks ? (n) => nfacct.packets(n) : undefined);
  health = new ProxyHealth(2 * o.syncPeriodMs);
  health.node = node;
  const servers: Server[] = [];
  if (o.healthzBindAddress) {
    const { host, port } = splitHostPort(o.healthzBindAddress);
    servers.push(await serveHealth(health, host, port, metrics));
  }
  if (o.metricsBindAddress) {
    const { host, port } = splitHostPort(o.metricsBindAddress);
    servers.push(await serveMetrics(metrics, host, port));
  }

  // Health check node ports listen where NodePorts are accepted, in this process's own
  // network namespace (with --netns, the rules are elsewhere but the sockets are here).
  const npa = nodePortAddressesFor(settings, 'IPv4', node);
  const serviceHealth = new ServiceHealthServer({
    nodeName: settings.nodeName,
    nodeIPs: nodePortIPsFor(npa, interfaceAddresses()),
    proxyHealthy: () => health!.health().healthy,
    log: o.log,
    onListenFailure: (svc, _port, message) => void recordListenFailure(o.kubeconfig, svc, message).catch((err: Error) => o.log(`could not record an event for ${svc}: ${err.message}`)),
  });
  // Where the rules are, to find which addresses --nodeport-addresses selects.
  const addressesWhereRulesAre = o.exec
    ? async () => {
        const r = await exec('ip', ['-o', 'addr', 'show'], { timeoutMs: 30_000 });
        return parseIpAddr(r.stdout);
      }
    : async () => interfaceAddresses();

  const mode = o.proxyMode ?? 'iptables';
  if (mode === 'iptables') {
    proxier = new Proxier({
      settings,
      node,
      iptables,
      exec,
      nfacct: nfacctWorks ? nfacct : null,
      metrics,
      health,
      serviceHealth,
      interfaceAddresses: addressesWhereRulesAre,
      syncPeriodMs: o.syncPeriodMs,
      minSyncPeriodMs: o.minSyncPeriodMs,
      log: o.log,
    });
  } else {
    const impl = await modeImplementation(mode);
    try {
      proxier = await impl.create({ settings, node, exec, metrics, health, serviceHealth, interfaceAddresses: addressesWhereRulesAre, syncPeriodMs: o.syncPeriodMs, minSyncPeriodMs: o.minSyncPeriodMs, log: o.log, userspace: o.userspace });
    } catch (err) {
      // The mode cannot run here (e.g. no IP_VS): stop what was started and leave the node's rules alone.
      await nodeWatcher.stop().catch(() => {});
      for (const s of servers) s.close();
      await serviceHealth.close();
      throw err;
    }
  }
  // Only once the mode's proxier exists (it has touched no rule yet): the current mode's rules stay if it is refused.
  await cleanupOtherModes(mode, exec, o.log, backend);
  const p = proxier;
  o.log(`${mode === 'iptables' ? `using iptables-${backend}` : `proxy mode ${mode}`}; syncPeriod=${o.syncPeriodMs / 1000}s minSyncPeriod=${o.minSyncPeriodMs / 1000}s node=${settings.nodeName}`);
  p.start();
  void recordStart(o.kubeconfig, settings.nodeName, mode).catch((err: Error) => o.log(`could not record the start event: ${err.message}`));

  const onError = (kind: string) => (err: unknown) => o.log(`watching ${kind}: ${(err as Error)?.message ?? String(err)}`);
  // Upstream's ServiceCIDR config (the union of every ServiceCIDR's CIDRs after each change),
  // started first so that the first full sync usually knows them.
  const cidrsByName = new Map<string, string[]>();
  const serviceCIDRs = p.onServiceCIDRs
    ? watchKind(o.kubeconfig, 'ServiceCIDR', {
        onEvent: (ev) => {
          const name = ev.object.metadata?.name ?? '';
          if (ev.type === 'delete') cidrsByName.delete(name);
          else cidrsByName.set(name, ev.object.spec?.cidrs ?? []);
          p.onServiceCIDRs!([...new Set([...cidrsByName.values()].flat())]);
        },
        onError: onError('ServiceCIDRs'),
      })
    : null;
  const services = watchKind(o.kubeconfig, 'Service', {
    labelSelector: INFORMER_LABEL_SELECTOR,
    onEvent: (ev) => {
      const obj = ev.object as V1Service as Service;
      if (ev.type === 'add') p.onServiceUpdate(null, obj);
      else if (ev.type === 'update') p.onServiceUpdate((ev.old as Service | undefined) ?? null, obj);
      else p.onServiceUpdate(obj, null);
    },
    onSynced: () => void p.onServicesSynced(),
    onError: onError('Services'),
  });
  const slices = watchKind(o.kubeconfig, 'EndpointSlice', {
    labelSelector: INFORMER_LABEL_SELECTOR,
    onEvent: (ev) => p.onEndpointSliceUpdate(ev.object as V1EndpointSlice as EndpointSlice, ev.type === 'delete'),
    onSynced: () => void p.onEndpointSlicesSynced(),
    onError: onError('EndpointSlices'),
  });

  return {
    proxier: p,
    backend,
    async stop() {
      p.stop();
      await Promise.all([services.stop(), slices.stop(), nodeWatcher.stop(), ...(serviceCIDRs ? [serviceCIDRs.stop()] : [])].map((x) => x.catch(() => {})));
      for (const s of servers) s.close();
      await serviceHealth.close();
    },
  };
}

/** An events.k8s.io/v1 event from kube-proxy about one object, named as upstream names them. */
async function recordEvent(kc: KubeConfig, e: { namespace: string; regarding: { kind: string; name: string; namespace?: string; uid: string }; instance: string; action: string; reason: string; note: string; type: 'Normal' | 'Warning' }): Promise<void> {
  const now = new V1MicroTime();
  await kc.makeApiClient(EventsV1Api).createNamespacedEvent({
    namespace: e.namespace,
    body: {
      // Upstream's name: the object's name and the time in nanoseconds, in hex.
      metadata: { name: `${e.regarding.name}.${(BigInt(now.getTime()) * 1_000_000n + BigInt(randomBytes(2).readUInt16BE() % 1_000_000)).toString(16)}`, namespace: e.namespace },
      eventTime: now,
      reportingController: 'kube-proxy',
      reportingInstance: e.instance,
      action: e.action,
      reason: e.reason,
      regarding: e.regarding,
      note: e.note,
      type: e.type,
    },
  });
}

/**
 * Upstream's Warning event on the Service when its health check port cannot be opened
 * (reason FailedToStartServiceHealthcheck, action Listen).
 */
function recordListenFailure(kc: KubeConfig, service: string, note: string): Promise<void> {
  const [namespace, name] = service.split('/') as [string, string];
  return recordEvent(kc, { namespace, regarding: { kind: 'Service', namespace, name, uid: service }, instance: `kube-proxy-${hostname()}`, action: 'Listen', reason: 'FailedToStartServiceHealthcheck', note, type: 'Warning' });
}

/**
 * Upstream's "birth cry": a Normal event on the Node (reason Starting, action
 * StartKubeProxy) once the proxier runs. Upstream leaves the note empty; svclab names the
 * mode in it, so that a lab can tell which modes a node's kube-proxy has run in.
 */
function recordStart(kc: KubeConfig, nodeName: string, mode: string): Promise<void> {
  return recordEvent(kc, { namespace: 'default', regarding: { kind: 'Node', name: nodeName, uid: nodeName }, instance: `kube-proxy-${nodeName}`, action: 'StartKubeProxy', reason: 'Starting', note: `proxy mode ${mode}`, type: 'Normal' });
}

