// Prometheus metrics under CoreDNS's names (plugin/metrics/vars), on :9153/metrics.
//
// The per-query metrics are counted in plain arrays keyed by their label values and only
// turned into prom-client's form when /metrics is read: prom-client's inc()/observe()
// validate and hash the label object on every call (~20 µs for the five metrics of one
// query, more than answering it), which capped the server's QPS.
import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const SERVER = 'dns://:53';

const DURATION_BUCKETS = [0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192];
const SIZE_BUCKETS = [0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000];

/** The counts of one (zone, type, proto, rcode, plugin). */
interface Tally {
  zone: string;
  type: string;
  proto: string;
  rcode: string;
  plugin: string;
  count: number;
  /** Per bucket (not cumulative); the last slot is "above every bound". */
  duration: Float64Array;
  durationSum: number;
  requestSize: Float64Array;
  requestSizeSum: number;
  responseSize: Float64Array;
  responseSizeSum: number;
}

function bucketOf(bounds: number[], v: number): number {
  let i = 0;
  while (i < bounds.length && v > bounds[i]!) i++;
  return i;
}

type Value = { labels: Record<string, string | number>; value: number; metricName?: string };

/** A metric computed from the tallies when read; registered in prom-client's registry like its own. */
class Derived {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'histogram',
    private readonly values: () => Value[],
  ) {}
  readonly aggregator = 'sum';
  get() {
    return { name: this.name, help: this.help, type: this.type, values: this.values(), aggregator: this.aggregator };
  }
}

/** Sums tallies into series keyed by some of their labels. */
function group<T>(tallies: Iterable<Tally>, labels: (t: Tally) => Record<string, string>, init: () => T, add: (acc: T, t: Tally) => void): { labels: Record<string, string>; acc: T }[] {
  const out = new Map<string, { labels: Record<string, string>; acc: T }>();
  for (const t of tallies) {
    const l = labels(t);
    const key = Object.values(l).join('\0');
    let g = out.get(key);
    if (!g) out.set(key, (g = { labels: l, acc: init() }));
    add(g.acc, t);
  }
  return [...out.values()];
}

function histogramValues(name: string, bounds: number[], series: { labels: Record<string, string>; acc: { buckets: Float64Array; sum: number; count: number } }[]): Value[] {
  const out: Value[] = [];
  for (const { labels, acc } of series) {
    let cumulative = 0;
    bounds.forEach((le, i) => {
      cumulative += acc.buckets[i]!;
      out.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cumulative });
    });
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: acc.count });
    out.push({ metricName: `${name}_sum`, labels, value: acc.sum });
    out.push({ metricName: `${name}_count`, labels, value: acc.count });
  }
  return out;
}

export class DnsMetrics {
  readonly registry = new Registry();
  readonly programming: Histogram<string>;
  private tallies = new Map<string, Tally>();

  constructor(readonly server = SERVER) {
    const r = [this.registry];
    // prom-client samples event-loop delay every 10 ms by default: about 1 % of a core on an
    // idle server, the largest part of its idle cost. Once a second is plenty for a gauge.
    collectDefaultMetrics({ register: this.registry, prefix: 'coredns_', eventLoopMonitoringPrecision: 1000 });
    new Gauge({ name: 'coredns_build_info', help: 'A metric with a constant \'1\' value labeled by version, revision, and goversion from which CoreDNS was built.', labelNames: ['version', 'revision', 'goversion'], registers: r }).set({ version: 'svclab', revision: '', goversion: process.version }, 1);
    const base = (t: Tally) => ({ server: this.server, zone: t.zone, view: '' });
    const histogram = (name: string, help: string, bounds: number[], labels: (t: Tally) => Record<string, string>, pick: (t: Tally) => [Float64Array, number]) =>
      new Derived(name, help, 'histogram', () =>
        histogramValues(
          name,
          bounds,
          group(
            this.tallies.values(),
            labels,
            () => ({ buckets: new Float64Array(bounds.length + 1), sum: 0, count: 0 }),
            (acc, t) => {
              const [b, sum] = pick(t);
              for (let i = 0; i < b.length; i++) acc.buckets[i]! += b[i]!;
              acc.sum += sum;
              acc.count += t.count;
            },
          ),
        ),
      );
    const counter = (name: string, help: string, labels: (t: Tally) => Record<string, string>) =>
      new Derived(name, help, 'counter', () =>
        group(this.tallies.values(), labels, () => ({ n: 0 }), (acc, t) => (acc.n += t.count)).map((g) => ({ labels: g.labels, value: g.acc.n })),
      );
    for (const m of [
      counter('coredns_dns_requests_total', 'Counter of DNS requests made per zone, protocol and family.', (t) => ({ ...base(t), proto: t.proto, family: '1', type: t.type })),
      counter('coredns_dns_responses_total', 'Counter of response status codes.', (t) => ({ ...base(t), rcode: t.rcode, plugin: t.plugin })),
      histogram('coredns_dns_request_duration_seconds', 'Histogram of the time (in seconds) each request took per zone.', DURATION_BUCKETS, (t) => ({ ...base(t), type: t.type }), (t) => [t.duration, t.durationSum]),
      histogram('coredns_dns_request_size_bytes', 'Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.', SIZE_BUCKETS, (t) => ({ ...base(t), proto: t.proto }), (t) => [t.requestSize, t.requestSizeSum]),
      histogram('coredns_dns_response_size_bytes', 'Size of the returned response in bytes.', SIZE_BUCKETS, (t) => ({ ...base(t), proto: t.proto }), (t) => [t.responseSize, t.responseSizeSum]),
    ]) {
      this.registry.registerMetric(m as never);
    }
    this.programming = new Histogram({ name: 'coredns_kubernetes_dns_programming_duration_seconds', help: 'Histogram of the time (in seconds) it took to program a dns instance.', labelNames: ['service_kind'], buckets: [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384, 32.768, 65.536, 131.072, 262.144, 524.288], registers: r });
  }

  observe(m: { zone: string; type: string; rcode: string; plugin: string }, proto: 'udp' | 'tcp', reqBytes: number, respBytes: number, seconds: number): void {
    const key = `${m.zone}\0${m.type}\0${proto}\0${m.rcode}\0${m.plugin}`;
    let t = this.tallies.get(key);
    if (!t) {
      t = {
        zone: m.zone,
        type: m.type,
        proto,
        rcode: m.rcode,
        plugin: m.plugin,
        count: 0,
        duration: new Float64Array(DURATION_BUCKETS.length + 1),
        durationSum: 0,
        requestSize: new Float64Array(SIZE_BUCKETS.length + 1),
        requestSizeSum: 0,
        responseSize: new Float64Array(SIZE_BUCKETS.length + 1),
        responseSizeSum: 0,
      };
      this.tallies.set(key, t);
    }
    t.count++;
    t.duration[bucketOf(DURATION_BUCKETS, seconds)]!++;
    t.durationSum += seconds;
    t.requestSize[bucketOf(SIZE_BUCKETS, reqBytes)]!++;
    t.requestSizeSum += reqBytes;
    t.responseSize[bucketOf(SIZE_BUCKETS, respBytes)]!++;
    t.responseSizeSum += respBytes;
  }
}
