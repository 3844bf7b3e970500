// Prometheus metrics under CoreDNS's names (plugin/metrics/vars), on :9153/metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const SERVER = 'dns://:53';

export class DnsMetrics {
  readonly registry = new Registry();
  private requests: Counter<string>;
  private responses: Counter<string>;
  private duration: Histogram<string>;
  private requestSize: Histogram<string>;
  private responseSize: Histogram<string>;
  readonly programming: Histogram<string>;

  constructor(readonly server = SERVER) {
    const r = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'coredns_' });
    new Gauge({ name: 'coredns_build_info', help: 'A metric with a constant \'1\' value labeled by version, revision, and goversion from which CoreDNS was built.', labelNames: ['version', 'revision', 'goversion'], registers: r }).set({ version: 'svclab', revision: '', goversion: process.version }, 1);
    this.requests = new Counter({ name: 'coredns_dns_requests_total', help: 'Counter of DNS requests made per zone, protocol and family.', labelNames: ['server', 'zone', 'view', 'proto', 'family', 'type'], registers: r });
    this.responses = new Counter({ name: 'coredns_dns_responses_total', help: 'Counter of response status codes.', labelNames: ['server', 'zone', 'view', 'rcode', 'plugin'], registers: r });
    const buckets = [0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192];
    this.duration = new Histogram({ name: 'coredns_dns_request_duration_seconds', help: 'Histogram of the time (in seconds) each request took per zone.', labelNames: ['server', 'zone', 'view', 'type'], buckets, registers: r });
    const sizes = [0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000];
    this.requestSize = new Histogram({ name: 'coredns_dns_request_size_bytes', help: 'Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.', labelNames: ['server', 'zone', 'view', 'proto'], buckets: sizes, registers: r });
    this.responseSize = new Histogram({ name: 'coredns_dns_response_size_bytes', help: 'Size of the returned response in bytes.', labelNames: ['server', 'zone', 'view', 'proto'], buckets: sizes, registers: r });
    this.programming = new Histogram({ name: 'coredns_kubernetes_dns_programming_duration_seconds', help: 'Histogram of the time (in seconds) it took to program a dns instance.', labelNames: ['service_kind'], buckets: [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384, 32.768, 65.536, 131.072, 262.144, 524.288], registers: r });
  }

  observe(m: { zone: string; type: string; rcode: string; plugin: string }, proto: 'udp' | 'tcp', reqBytes: number, respBytes: number, seconds: number): void {
    const base = { server: this.server, zone: m.zone, view: '' };
    this.requests.inc({ ...base, proto, family: '1', type: m.type });
    this.responses.inc({ ...base, rcode: m.rcode, plugin: m.plugin });
    this.duration.observe({ ...base, type: m.type }, seconds);
    this.requestSize.observe({ ...base, proto }, reqBytes);
    this.responseSize.observe({ ...base, proto }, respBytes);
  }
}
