// A lab cluster's kube-proxy mode: kept where kubeadm clusters keep it (the `mode:` of
// the KubeProxyConfiguration in the kube-system/kube-proxy ConfigMap), switched as an
// administrator would (edit it, restart the DaemonSet's pods), and verified on the nodes
// themselves: the new mode's rules are there and no other mode's are left.
import { AppsV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type Docker from 'dockerode';
import { parse, stringify } from 'yaml';
import { execIn } from '../docker.ts';
import { UserError } from '../errors.ts';
import type { ProxyMode } from '../proxy/mode.ts';
import { waitFor, HopelessError, failOnBrokenComponents } from './wait.ts';

export const NO_IPVS = 'this kernel has no IP_VS support (modprobe ip_vs failed and /proc/net/ip_vs does not exist)';

export const PROXY_CONFIGMAP = { namespace: 'kube-system', name: 'kube-proxy', key: 'config.conf' };
export const PROXY_DAEMONSET = { namespace: 'kube-system', name: 'svclab-kube-proxy' };

/** The mode in the cluster's kube-proxy ConfigMap; undefined when there is none (yet). */
export async function configuredProxyMode(kc: KubeConfig): Promise<ProxyMode | undefined> {
  try {
    const cm = await kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: PROXY_CONFIGMAP.name, namespace: PROXY_CONFIGMAP.namespace });
    const doc = parse(cm.data?.[PROXY_CONFIGMAP.key] ?? '') as { mode?: string } | null;
    return ((doc?.mode || 'iptables') as ProxyMode) ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why `mode` cannot run on this cluster's nodes, or undefined if it can. IPVS needs the
 * kernel's ip_vs module: tried the way kube-proxy does (load it, then look for
 * /proc/net/ip_vs), inside a node, which shares the host's kernel.
 */
export async function proxyModeUnsupported(docker: Docker, node: string, mode: ProxyMode): Promise<string | undefined> {
  if (mode !== 'ipvs') return undefined;
  const has = async () => (await execIn(docker, node, ['sh', '-c', 'modprobe -q ip_vs 2>/dev/null; test -e /proc/net/ip_vs && echo yes || echo no'])).trim() === 'yes';
  if (await has()) return undefined;
  return NO_IPVS;
}

/** What each proxy mode has left on a node, read on the node itself. */
export interface ModeTraces {
  iptables: number;
  nftables: boolean;
  userspace: number;
  ipvs: boolean;
}

/** sh on a node that prints what parseModeTraces reads. */
export const MODE_TRACES_SCRIPT = [
  'iptables-save -t nat | grep -c "^:KUBE-SVC-" || true',
  'nft list table ip kube-proxy >/dev/null 2>&1 && echo yes || echo no',
  'iptables-save -t nat | grep -c "^:KUBE-PORTALS-" || true',
  'ip link show kube-ipvs0 >/dev/null 2>&1 && echo yes || echo no',
].join('; ');

export function parseModeTraces(out: string): ModeTraces {
  const [svc = '0', nft = 'no', portals = '0', ipvs = 'no'] = out.trim().split('\n');
  return { iptables: Number(svc), nftables: nft === 'yes', userspace: Number(portals), ipvs: ipvs === 'yes' };
}

export async function nodeModeTraces(docker: Docker, node: string): Promise<ModeTraces> {
  return parseModeTraces(await execIn(docker, node, ['sh', '-c', MODE_TRACES_SCRIPT]));
}

/** The modes whose traces are on a node. */
export function modesPresent(t: ModeTraces): ProxyMode[] {
  return [...(t.iptables > 0 ? ['iptables' as const] : []), ...(t.nftables ? ['nftables' as const] : []), ...(t.userspace > 0 ? ['userspace' as const] : []), ...(t.ipvs ? ['ipvs' as const] : [])];
}

/**
 * Sets the mode in the ConfigMap and restarts the DaemonSet's pods (what `kubectl
 * rollout restart` does), then waits until every node's new pod is available.
 */
export async function switchProxyMode(kc: KubeConfig, mode: ProxyMode, timeoutMs: number): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const cm = await core.readNamespacedConfigMap({ name: PROXY_CONFIGMAP.name, namespace: PROXY_CONFIGMAP.namespace }).catch(() => {
    throw new UserError(`this cluster has no ${PROXY_CONFIGMAP.namespace}/${PROXY_CONFIGMAP.name} ConfigMap (made by an older svclab): run 'svclab cluster up' for it first`);
  });
  const doc = (parse(cm.data?.[PROXY_CONFIGMAP.key] ?? '') ?? {}) as Record<string, unknown>;
  doc.mode = mode;
  // JSON patches (the client's default content type); "/" in a key is "~1".
  const key = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');
  await core.patchNamespacedConfigMap({ name: PROXY_CONFIGMAP.name, namespace: PROXY_CONFIGMAP.namespace, body: [{ op: 'add', path: `/data/${key(PROXY_CONFIGMAP.key)}`, value: stringify(doc) }] });
  const ds = await apps.readNamespacedDaemonSet({ name: PROXY_DAEMONSET.name, namespace: PROXY_DAEMONSET.namespace });
  const annotations = { ...(ds.spec?.template.metadata?.annotations ?? {}), 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() };
  await apps.patchNamespacedDaemonSet({ name: PROXY_DAEMONSET.name, namespace: PROXY_DAEMONSET.namespace, body: [{ op: 'add', path: '/spec/template/metadata/annotations', value: annotations }] });
  await waitForRollout(kc, timeoutMs);
}

async function waitForRollout(kc: KubeConfig, timeoutMs: number): Promise<void> {
  const apps = kc.makeApiClient(AppsV1Api);
  await waitFor(`the ${PROXY_DAEMONSET.name} pods to restart`, timeoutMs, async () => {
    try {
      await failOnBrokenComponents(kc);
    } catch (err) {
      if (err instanceof HopelessError) throw new HopelessError(`kube-proxy did not start in the new mode: ${err.message}`);
      throw err;
    }
    const ds = await apps.readNamespacedDaemonSet({ name: PROXY_DAEMONSET.name, namespace: PROXY_DAEMONSET.namespace });
    const s = ds.status;
    const want = s?.desiredNumberScheduled ?? 0;
    if ((s?.observedGeneration ?? 0) < (ds.metadata?.generation ?? 0)) return 'the DaemonSet change is not observed yet';
    if ((s?.updatedNumberScheduled ?? 0) < want || (s?.numberAvailable ?? 0) < want || (s?.numberUnavailable ?? 0) > 0) return `${s?.updatedNumberScheduled ?? 0}/${want} pods updated, ${s?.numberAvailable ?? 0} available`;
    return undefined;
  });
}
