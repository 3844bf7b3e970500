// `svclab cluster set-proxy-mode MODE`: switch a lab cluster's kube-proxy to another mode
// and show, node by node, that the new mode is in effect and the old one left nothing.
import { CoreV1Api } from '@kubernetes/client-node';
import { modesPresent, nodeModeTraces, configuredProxyMode, proxyModeUnsupported, switchProxyMode, type ModeTraces } from '../../cluster/proxy-mode.ts';
import { kubeconfigPath, readRecord, writeRecord } from '../../cluster/state.ts';
import { waitFor } from '../../cluster/wait.ts';
import { dockerForHost, requireDocker } from '../../docker.ts';
import { UserError } from '../../errors.ts';
import { loadKubeConfig } from '../../kube/client.ts';
import { isProxyMode, PROXY_MODES, type ProxyMode } from '../../proxy/mode.ts';
import { Status } from '../status.ts';

function describe(t: ModeTraces): string {
  const parts = [
    t.iptables ? `${t.iptables} KUBE-SVC chains` : 'no KUBE-SVC chains',
    t.nftables ? 'nft table ip kube-proxy' : 'no kube-proxy nft table',
    t.userspace ? `${t.userspace} KUBE-PORTALS chains` : 'no userspace portals',
    t.ipvs ? 'kube-ipvs0' : 'no kube-ipvs0',
  ];
  return parts.join(', ');
}

export async function setProxyModeAction(name: string, rawMode: string, waitMs: number): Promise<void> {
  if (!isProxyMode(rawMode)) throw new UserError(`unknown proxy mode "${rawMode}": use one of ${PROXY_MODES.join(', ')}`);
  const mode: ProxyMode = rawMode;
  const rec = await readRecord(name);
  if (!rec) throw new UserError(`no svclab cluster named "${name}": run 'svclab cluster up --name ${name}'`);
  const docker = rec.dockerHost ? dockerForHost(rec.dockerHost) : await requireDocker();
  const kc = loadKubeConfig(kubeconfigPath(name));
  const current = await configuredProxyMode(kc);
  const why = await proxyModeUnsupported(docker, `${name}-control-plane`, mode);
  if (why) throw new UserError(`cannot switch to ${mode} mode: ${why}; kube-proxy stays in ${current ?? 'its current'} mode`);
  const nodes = (await kc.makeApiClient(CoreV1Api).listNode()).items.map((n) => n.metadata!.name!).sort();
  const status = new Status();
  if (current !== mode) {
    await status.step(`Switching kube-proxy from ${current ?? 'iptables'} to ${mode} mode on ${nodes.length} nodes`, () => switchProxyMode(kc, mode, waitMs));
  }
  // The new pods clean up the old mode when they start and then sync: wait for both on every node.
  const traces = new Map<string, ModeTraces>();
  await status.step(`Checking every node: ${mode} rules in place, no other mode's left`, () =>
    waitFor(`every node to run ${mode} mode alone`, waitMs, async () => {
      for (const n of nodes) traces.set(n, await nodeModeTraces(docker, n));
      const wrong = nodes.filter((n) => {
        const present = modesPresent(traces.get(n)!);
        return present.length !== 1 || present[0] !== mode;
      });
      return wrong.length ? wrong.map((n) => `${n}: ${describe(traces.get(n)!)}`).join('; ') : undefined;
    }),
  );
  await writeRecord({ ...rec, proxyMode: mode });
  console.log(current === mode ? `kube-proxy already runs in ${mode} mode.` : `kube-proxy now runs in ${mode} mode.`);
  for (const n of nodes) console.log(`  ${n}: ${describe(traces.get(n)!)}`);
}
