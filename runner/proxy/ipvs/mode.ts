// kube-proxy's IPVS mode behind the mode seam (runner/proxy/mode.ts): its proxier, its
// cleanup (upstream CleanupLeftovers) and its render.
import { DEFAULT_IPVS_SETTINGS } from '../../core/proxy/ipvs/options.ts';
import { renderIpvsSnapshot } from '../../core/proxy/ipvs/snapshot.ts';
import { detectBackend, newIptables } from '../iptables.ts';
import type { ModeImplementation } from '../mode.ts';
import { cleanupIpvs } from './cleanup.ts';
import { IpvsProxier } from './proxier.ts';
import { checkIpvsSupport, configureKernel } from './support.ts';
import { newIpLinks, newIpset, newIpvsadm } from './tools.ts';

export const ipvsMode: ModeImplementation = {
  /** Refuses (a one-line UserError, the caller keeps its mode) where IPVS cannot run. */
  async create(deps) {
    const ipvs = deps.settings.ipvs ?? DEFAULT_IPVS_SETTINGS;
    await checkIpvsSupport(deps.exec, ipvs);
    await configureKernel(deps.exec, ipvs, deps.log);
    return new IpvsProxier({
      settings: deps.settings,
      ipvs,
      node: deps.node,
      iptables: newIptables(deps.exec, await detectBackend(deps.exec)),
      ipvsadm: newIpvsadm(deps.exec),
      ipset: newIpset(deps.exec),
      links: newIpLinks(deps.exec),
      exec: deps.exec,
      metrics: deps.metrics,
      health: deps.health,
      serviceHealth: deps.serviceHealth,
      syncPeriodMs: deps.syncPeriodMs,
      minSyncPeriodMs: deps.minSyncPeriodMs,
      log: deps.log,
    });
  },

  async cleanup(exec) {
    return cleanupIpvs({ exec, iptables: newIptables(exec, await detectBackend(exec)), ipvsadm: newIpvsadm(exec), ipset: newIpset(exec), links: newIpLinks(exec) });
  },

  render(objects, settings, log) {
    return renderIpvsSnapshot(objects, settings, settings.ipvs ?? DEFAULT_IPVS_SETTINGS, log).text;
  },
};
