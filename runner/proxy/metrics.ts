// kube-proxy's Prometheus metrics under upstream's names (pkg/proxy/metrics), iptables mode.
import { Counter, Gauge, Histogram, Registry, exponentialBuckets, linearBuckets } from 'prom-client';

export function newMetrics(nfacctPackets?: (name: string) => Promise<number | null>) {
  const registry = new Registry();
  const r = { registers: [registry] };
  const syncBuckets = exponentialBuckets(0.001, 2, 15);
  const fam = ['ip_family'];
  const m = {
    registry,
    syncLatency: new Histogram({ name: 'kubeproxy_sync_proxy_rules_duration_seconds', help: 'SyncProxyRules latency in seconds', buckets: syncBuckets, labelNames: fam, ...r }),
    syncFullLatency: new Histogram({ name: 'kubeproxy_sync_full_proxy_rules_duration_seconds', help: 'SyncProxyRules latency in seconds for full resyncs', buckets: syncBuckets, labelNames: fam, ...r }),
    syncPartialLatency: new Histogram({ name: 'kubeproxy_sync_partial_proxy_rules_duration_seconds', help: 'SyncProxyRules latency in seconds for partial resyncs', buckets: syncBuckets, labelNames: fam, ...r }),
    lastTimestamp: new Gauge({ name: 'kubeproxy_sync_proxy_rules_last_timestamp_seconds', help: 'The last time proxy rules were successfully synced', labelNames: fam, ...r }),
    lastQueuedTimestamp: new Gauge({ name: 'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds', help: 'The last time a sync of proxy rules was queued', labelNames: fam, ...r }),
    networkProgramming: new Histogram({
      name: 'kubeproxy_network_programming_duration_seconds',
      help: 'In Cluster Network Programming Latency in seconds',
      buckets: [...linearBuckets(0.25, 0.25, 2), ...linearBuckets(1, 1, 59), ...linearBuckets(60, 5, 12), ...linearBuckets(120, 30, 7)],
      labelNames: fam,
      ...r,
    }),
    endpointChangesPending: new Gauge({ name: 'kubeproxy_sync_proxy_rules_endpoint_changes_pending', help: 'Pending proxy rules Endpoint changes', ...r }),
    endpointChangesTotal: new Counter({ name: 'kubeproxy_sync_proxy_rules_endpoint_changes_total', help: 'Cumulative proxy rules Endpoint changes', ...r }),
    serviceChangesPending: new Gauge({ name: 'kubeproxy_sync_proxy_rules_service_changes_pending', help: 'Pending proxy rules Service changes', ...r }),
    serviceChangesTotal: new Counter({ name: 'kubeproxy_sync_proxy_rules_service_changes_total', help: 'Cumulative proxy rules Service changes', ...r }),
    restoreFailures: new Counter({ name: 'kubeproxy_sync_proxy_rules_iptables_restore_failures_total', help: 'Cumulative proxy iptables restore failures', labelNames: fam, ...r }),
    partialRestoreFailures: new Counter({ name: 'kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total', help: 'Cumulative proxy iptables partial restore failures', labelNames: fam, ...r }),
    rulesTotal: new Gauge({ name: 'kubeproxy_sync_proxy_rules_iptables_total', help: 'Total number of iptables rules owned by kube-proxy', labelNames: ['table', 'ip_family'], ...r }),
    rulesLast: new Gauge({ name: 'kubeproxy_sync_proxy_rules_iptables_last', help: 'Number of iptables rules written by kube-proxy in last sync', labelNames: ['table', 'ip_family'], ...r }),
    noLocalEndpoints: new Gauge({ name: 'kubeproxy_sync_proxy_rules_no_local_endpoints_total', help: 'Number of services with a Local traffic policy and no endpoints', labelNames: ['traffic_policy', 'ip_family'], ...r }),
    healthzTotal: new Counter({ name: 'kubeproxy_proxy_healthz_total', help: 'Cumulative proxy healthz HTTP status', labelNames: ['code'], ...r }),
    livezTotal: new Counter({ name: 'kubeproxy_proxy_livez_total', help: 'Cumulative proxy livez HTTP status', labelNames: ['code'], ...r }),
    conntrackLatency: new Histogram({ name: 'kubeproxy_conntrack_reconciler_sync_duration_seconds', help: 'ReconcileConntrackFlowsLatency latency in seconds', buckets: syncBuckets, labelNames: fam, ...r }),
    conntrackDeleted: new Counter({ name: 'kubeproxy_conntrack_reconciler_deleted_entries_total', help: 'Cumulative conntrack flows deleted by conntrack reconciler', labelNames: fam, ...r }),
  };
  if (nfacctPackets) {
    for (const [name, counter, help] of [
      ['kubeproxy_iptables_ct_state_invalid_dropped_packets_total', 'ct_state_invalid_dropped_pkts', 'packets dropped by iptables to work around conntrack problems'],
      ['kubeproxy_iptables_localhost_nodeports_accepted_packets_total', 'localhost_nps_accepted_pkts', 'Number of packets accepted on nodeports of loopback interface'],
    ] as const) {
      new Counter({
        name,
        help,
        ...r,
        async collect() {
          const n = await nfacctPackets(counter);
          this.reset();
          if (n !== null) this.inc(n);
        },
      });
    }
  }
  return m;
}

export type ProxyMetrics = ReturnType<typeof newMetrics>;
