// nftables mode behind the mode seam: its proxier, its cleanup (upstream
// CleanupLeftovers: delete the kube-proxy table of both families) and its render.
import type { IPFamily } from '../../core/proxy/ip.ts';
import { NFTABLES_MASQUERADE_BIT } from '../../core/proxy/nftables/options.ts';
import { renderNftablesSnapshot } from '../../core/proxy/nftables/render.ts';
import { TABLE } from '../../core/proxy/nftables/names.ts';
import type { ProxySettings } from '../../core/proxy/options.ts';
import { UserError } from '../../errors.ts';
import type { Exec } from '../exec.ts';
import type { ModeImplementation } from '../mode.ts';
import { nftablesMetrics } from './metrics.ts';
import { checkNft, newNft } from './nft.ts';
import { NftablesProxier } from './proxier.ts';

function masqueradeBitNote(settings: ProxySettings, log: (key: string, message: string) => void): void {
  if (settings.masqueradeBit !== NFTABLES_MASQUERADE_BIT) {
    log('nft-masq-bit', `--iptables-masquerade-bit=${settings.masqueradeBit} applies to the iptables and ipvs modes; nftables mode marks with bit ${NFTABLES_MASQUERADE_BIT} (0x00004000), as upstream does`);
  }
}

/** Upstream runs an IPv6 proxier too when the kernel has IPv6 (/proc/net/if_inet6, per network namespace). */
async function families(exec: Exec): Promise<IPFamily[]> {
  const r = await exec('cat', ['/proc/net/if_inet6'], { allowFailure: true, timeoutMs: 10_000 }).catch(() => null);
  return r && r.code === 0 ? ['IPv4', 'IPv6'] : ['IPv4'];
}

export const nftablesMode: ModeImplementation = {
  async create(deps) {
    await checkNft(deps.exec);
    masqueradeBitNote(deps.settings, (_k, m) => deps.log(m));
    return new NftablesProxier({
      settings: deps.settings,
      node: deps.node,
      families: await families(deps.exec),
      nft: newNft(deps.exec),
      exec: deps.exec,
      metrics: deps.metrics,
      nftMetrics: deps.metrics ? nftablesMetrics(deps.metrics.registry) : null,
      health: deps.health,
      serviceHealth: deps.serviceHealth,
      interfaceAddresses: deps.interfaceAddresses,
      syncPeriodMs: deps.syncPeriodMs,
      minSyncPeriodMs: deps.minSyncPeriodMs,
      log: deps.log,
    });
  },

  async cleanup(exec) {
    const nft = newNft(exec);
    const removed: string[] = [];
    for (const family of ['ip', 'ip6'] as const) {
      try {
        if (await nft.deleteTable(family)) removed.push(`deleted nftables table ${family} ${TABLE}`);
      } catch (err) {
        // Without nft there is nothing of ours to remove (upstream skips the family too).
        if (err instanceof UserError) return removed;
        throw err;
      }
    }
    return removed;
  },

  render(objects, settings, log) {
    masqueradeBitNote(settings, log);
    const snapshot = renderNftablesSnapshot(objects, settings, log);
    if (snapshot.serviceCIDRs.length === 0) {
      log('nft-no-servicecidr', 'the state holds no networking.k8s.io/v1 ServiceCIDR, so no rule drops traffic to unallocated cluster IPs (add `kubectl get servicecidrs -o yaml` to the state)');
    }
    return snapshot.tables.map((t) => t.text).join('');
  },
};
