// The counters only nftables mode has (upstream pkg/proxy/metrics, registered for
// ProxyModeNFTables), in the registry of the shared kubeproxy_* metrics.
import { Counter, type Registry } from 'prom-client';

export interface NftablesMetrics {
  syncFailures: Counter<'ip_family'>;
  cleanupFailures: Counter<'ip_family'>;
}

function counter(registry: Registry, name: string, help: string): Counter<'ip_family'> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<'ip_family'>;
  return new Counter({ name, help, labelNames: ['ip_family'], registers: [registry] });
}

export function nftablesMetrics(registry: Registry): NftablesMetrics {
  return {
    syncFailures: counter(registry, 'kubeproxy_sync_proxy_rules_nftables_sync_failures_total', 'Cumulative proxy nftables sync failures'),
    cleanupFailures: counter(registry, 'kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total', 'Cumulative proxy nftables cleanup failures'),
  };
}
