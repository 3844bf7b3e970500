// svclab's LoadBalancer controller: the I/O around runner/core/lb.
//
// One pod per node (DaemonSet, hostNetwork, NET_ADMIN). Two jobs:
//
// - allocation, by the one pod holding the Lease kube-system/svclab-lb-controller: it
//   watches Services and writes status.loadBalancer.ingress[].ip from the pool (JSON patch
//   guarded by the Service's uid), with Events like MetalLB's (IPAllocated,
//   AllocationFailed);
// - announcement, by every pod: for each ingress address the pods agree (without talking)
//   on one node, which adds the address as a /32 to its node interface (eth0 in kind), so
//   the node answers ARP for it on the kind Docker network, like kube-vip's or MetalLB's
//   layer-2 mode. A packet from the host to the address then arrives at that node, where
//   kube-proxy's "loadbalancer IP" rule in KUBE-SERVICES DNATs it to an endpoint.
//   Why a /32 on eth0 and not proxy-ARP: proxy-ARP would make every node answer for every
//   address; the /32 lets exactly one node answer, and `ip addr` shows which one.
//   No gratuitous ARP is sent (the node image has no arping): when an address moves to
//   another node, the host keeps the old node's MAC until its ARP entry goes stale (about
//   a minute at worst). The old node still DNATs the packets (every node has the rules),
//   so only externalTrafficPolicy: Local Services notice.
import { CoordinationV1Api, CoreV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { planAnnouncements, readyNodes } from '../core/lb/announce.ts';
import { LB_CLASS, planAllocations, settleWritten, type Outcome, type StatusChange } from '../core/lb/allocate.ts';
import { leaseAction, nextLeaseSpec, observe, type LeaseSpecLike, type Observation } from '../core/lb/lease.ts';
import { formatPool, inPool, ipv4ToInt, type Pool } from '../core/lb/pool.ts';
import { oneLine } from '../errors.ts';
import { run } from '../exec.ts';
import { watchKind, type Watcher } from '../kube/informers.ts';

export interface ControllerOptions {
  nodeName: string;
  /** This pod's name: the Lease holder identity. */
  identity: string;
  pool: Pool;
  /** The node interface that carries the node address (eth0 in kind). */
  iface: string;
  className?: string;
  leaseNamespace?: string;
  leaseName?: string;
  /** Label selector of the controller's own pods (to know which nodes may announce). */
  podSelector?: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log?: (msg: string) => void;
}

export const DEFAULT_POD_SELECTOR = 'app.kubernetes.io/name=svclab-lb-controller';
const COMPONENT = 'svclab-lb-controller';

const httpCode = (err: unknown): number | undefined => {
  const c = (err as { code?: unknown })?.code;
  return typeof c === 'number' ? c : undefined;
};

/** Starts the controller; resolves to a stop function that releases the lease and the addresses. */
export async function runController(kc: KubeConfig, opts: ControllerOptions): Promise<() => Promise<void>> {
  const log = opts.log ?? ((m: string) => console.log(`${new Date().toISOString()} lb-controller: ${m}`));
  const className = opts.className ?? LB_CLASS;
  const leaseNamespace = opts.leaseNamespace ?? 'kube-system';
  const leaseName = opts.leaseName ?? COMPONENT;
  const duration = opts.leaseDurationSeconds ?? 15;
  const renewDeadline = opts.renewDeadlineMs ?? 10_000;
  const retryPeriod = opts.retryPeriodMs ?? 2_000;
  if (!(retryPeriod < renewDeadline && renewDeadline < duration * 1000)) throw new Error('the leader election flags need retry-period < renew-deadline < lease-duration');
  const core = kc.makeApiClient(CoreV1Api);
  const coord = kc.makeApiClient(CoordinationV1Api);
  const addrs = new NodeAddresses(opts.iface, opts.pool);
  let stopped = false;

  const onError = (what: string) => {
    let last = '';
    return (err: unknown) => {
      const msg = `${what} watch: ${oneLine(err)}`;
      if (msg !== last) log(msg);
      last = msg;
    };
  };
  // --- allocation (the lease holder only) ---
  let leader = false;
  let written = new Map<string, { ip: string | null; at: number }>();
  const told = new Map<string, string>();
  const allocation = new Serial(100, 30_000, log, async () => {
    if (!leader || stopped || !synced(services)) return;
    const list = services.list();
    written = settleWritten(list, written, Date.now());
    const plan = planAllocations(list, opts.pool, { className, written: new Map([...written].map(([uid, w]) => [uid, w.ip])) });
    let retry = false;
    const wrote = new Set<string>();
    for (const c of plan.changes) {
      if (!leader || stopped) return;
      try {
        await writeStatus(core, c);
        written.set(c.uid, { ip: c.ingress[0]?.ip ?? null, at: Date.now() });
        wrote.add(c.uid);
        log(c.ingress.length ? `${c.namespace}/${c.name}: ingress ${c.ingress[0]!.ip}` : `${c.namespace}/${c.name}: released its address`);
      } catch (err) {
        const code = httpCode(err);
        // 404: deleted meanwhile; 422: the uid test failed (deleted and re-created).
        if (code === 404 || code === 422) continue;
        log(`${c.namespace}/${c.name}: writing status failed: ${oneLine(err)}`);
        retry = true;
      }
    }
    const live = new Set<string>();
    for (const o of plan.outcomes) {
      live.add(o.uid);
      const summary = o.ip ?? `!${o.problem}`;
      if (told.get(o.uid) === summary) continue;
      if (o.ip && !wrote.has(o.uid)) {
        told.set(o.uid, summary); // kept from before (e.g. after a restart): nothing new to tell
        continue;
      }
      if (!o.ip) log(`${o.namespace}/${o.name}: ${o.problem}`);
      if (await recordEvent(core, o, opts)) told.set(o.uid, summary);
    }
    for (const uid of told.keys()) if (!live.has(uid)) told.delete(uid);
    if (retry) allocation.retryIn(2000);
  });

  // --- announcement (every pod, for the addresses hashed to its node) ---
  let lastReasons = '';
  const announcement = new Serial(100, 10_000, log, async () => {
    if (stopped || !synced(services, slices, pods)) return;
    const plan = planAnnouncements(services.list(), slices.list(), readyNodes(pods.list()), opts.pool, className);
    const reasons = plan.filter((a) => a.reason).map((a) => `${a.ip} (${a.service}): ${a.reason}`).join('; ');
    if (reasons && reasons !== lastReasons) log(`not announced: ${reasons}`);
    lastReasons = reasons;
    await addrs.sync(plan.filter((a) => a.node === opts.nodeName).map((a) => a.ip), log);
  });

  // --- the watches ---
  const changed = () => {
    allocation.schedule();
    announcement.schedule();
  };
  const services = watchKind(kc, 'Service', { onEvent: changed, onSynced: changed, onError: onError('service') });
  const slices = watchKind(kc, 'EndpointSlice', { onEvent: () => announcement.schedule(), onSynced: changed, onError: onError('endpointslice') });
  const pods = watchKind(kc, 'Pod', { labelSelector: opts.podSelector ?? DEFAULT_POD_SELECTOR, onEvent: () => announcement.schedule(), onSynced: changed, onError: onError('pod') });
  const synced = (...ws: Watcher<unknown>[]) => ws.every((w) => w.synced);

  // --- the lease ---
  let seen: Observation | undefined;
  let lastRenew = 0;
  let lastLeaseError = '';
  const become = (yes: boolean, why: string) => {
    if (leader === yes) return;
    leader = yes;
    log(yes ? `leading: this pod (${opts.identity}) now assigns addresses from ${formatPool(opts.pool)}` : `no longer leading: ${why}`);
    if (yes) {
      written = new Map();
      allocation.schedule();
    }
  };
  const tick = async () => {
    if (stopped) return;
    try {
      let lease: V1Lease | undefined;
      try {
        lease = await coord.readNamespacedLease({ name: leaseName, namespace: leaseNamespace });
      } catch (err) {
        if (httpCode(err) !== 404) throw err;
      }
      const now = Date.now();
      if (!lease) {
        await coord.createNamespacedLease({ namespace: leaseNamespace, body: { metadata: { name: leaseName, namespace: leaseNamespace }, spec: wire(nextLeaseSpec(undefined, 'acquire', opts.identity, new Date(), duration)) } });
        lastRenew = now;
        become(true, '');
        return;
      }
      seen = observe(seen, lease.spec as LeaseSpecLike | undefined, now);
      const action = leaseAction(lease.spec as LeaseSpecLike | undefined, seen, opts.identity, now, duration);
      if (action === 'follow') {
        become(false, `the lease is held by ${seen.holder}`);
        return;
      }
      await coord.replaceNamespacedLease({ name: leaseName, namespace: leaseNamespace, body: { ...lease, spec: wire(nextLeaseSpec(lease.spec as LeaseSpecLike | undefined, action, opts.identity, new Date(), duration)) } });
      lastRenew = Date.now();
      lastLeaseError = '';
      become(true, '');
    } catch (err) {
      // 409: another pod wrote the lease first; the next tick reads who holds it.
      const msg = oneLine(err);
      if (httpCode(err) !== 409 && msg !== lastLeaseError) log(`lease: ${msg}`);
      lastLeaseError = msg;
      if (leader && Date.now() - lastRenew > renewDeadline) become(false, `could not renew the lease for ${Math.round(renewDeadline / 1000)} s`);
    }
  };
  let ticking = Promise.resolve();
  const leaseTimer = setInterval(() => {
    ticking = ticking.then(tick);
  }, retryPeriod);
  ticking = ticking.then(tick);

  log(`node ${opts.nodeName}: pool ${formatPool(opts.pool)}, announcing on ${opts.iface}`);
  return async () => {
    stopped = true;
    clearInterval(leaseTimer);
    await ticking;
    await allocation.stop();
    await announcement.stop();
    await Promise.all([services.stop(), slices.stop(), pods.stop()]);
    await addrs.sync([], log).catch((err) => log(`removing addresses failed: ${oneLine(err)}`));
    if (leader) {
      try {
        const lease = await coord.readNamespacedLease({ name: leaseName, namespace: leaseNamespace });
        if (lease.spec?.holderIdentity === opts.identity) {
          await coord.replaceNamespacedLease({ name: leaseName, namespace: leaseNamespace, body: { ...lease, spec: wire(nextLeaseSpec(lease.spec as LeaseSpecLike, 'release', opts.identity, new Date(), duration)) } });
          log('released the lease');
        }
      } catch (err) {
        log(`releasing the lease failed: ${oneLine(err)}`);
      }
    }
  };
}

function wire(spec: LeaseSpecLike): V1Lease['spec'] {
  const t = (v: Date | string | null | undefined) => (v === null || v === undefined ? undefined : new V1MicroTime(v instanceof Date ? v.getTime() : Date.parse(v)));
  return {
    holderIdentity: spec.holderIdentity ?? undefined,
    leaseDurationSeconds: spec.leaseDurationSeconds ?? undefined,
    acquireTime: t(spec.acquireTime),
    renewTime: t(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? undefined,
  };
}

async function writeStatus(core: CoreV1Api, c: StatusChange): Promise<void> {
  const patch: object[] = [];
  if (c.uid) patch.push({ op: 'test', path: '/metadata/uid', value: c.uid });
  patch.push({ op: 'add', path: '/status/loadBalancer', value: c.ingress.length ? { ingress: c.ingress } : {} });
  await core.patchNamespacedServiceStatus({ name: c.name, namespace: c.namespace, body: patch, fieldManager: COMPONENT });
}

/** An Event on the Service, as `kubectl describe service` shows them; false if it could not be written. */
async function recordEvent(core: CoreV1Api, o: Outcome, opts: ControllerOptions): Promise<boolean> {
  const now = new Date();
  const [type, reason, message] = o.ip ? ['Normal', 'IPAllocated', `Assigned IP ["${o.ip}"]`] : ['Warning', 'AllocationFailed', o.problem ?? 'no address'];
  try {
    await core.createNamespacedEvent({
      namespace: o.namespace,
      body: {
        metadata: { generateName: `${o.name}.`, namespace: o.namespace },
        involvedObject: { apiVersion: 'v1', kind: 'Service', namespace: o.namespace, name: o.name, uid: o.uid },
        type,
        reason,
        message,
        source: { component: COMPONENT, host: opts.nodeName },
        reportingComponent: COMPONENT,
        reportingInstance: opts.identity,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs one async job at a time: soon after schedule() (coalescing bursts of events), and
 * every `resyncMs` anyway. A failing run is logged and retried at the next trigger.
 */
class Serial {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly resync: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly delayMs: number,
    resyncMs: number,
    private readonly log: (m: string) => void,
    private readonly job: () => Promise<void>,
  ) {
    this.resync = setInterval(() => this.schedule(), resyncMs);
  }

  schedule(): void {
    this.retryIn(this.delayMs);
  }

  retryIn(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.running.then(this.job).catch((err) => this.log(`reconcile failed: ${oneLine(err)}`));
    }, ms);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resync);
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}

interface IpAddrJSON {
  ifname?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number; label?: string }[];
}

/** The /32 addresses this controller puts on the node interface, labelled <iface>:svclab. */
export class NodeAddresses {
  readonly label: string | undefined;

  constructor(
    readonly iface: string,
    private readonly pool: Pool,
  ) {
    // An address label is the interface name, a colon and a suffix, 15 characters at most.
    this.label = `${iface}:svclab`.length <= 15 ? `${iface}:svclab` : undefined;
  }

  /** The pool addresses (or svclab-labelled ones) on the interface now. */
  async current(): Promise<string[]> {
    const r = await run('ip', ['-j', '-4', 'addr', 'show', 'dev', this.iface]);
    const links = JSON.parse(r.stdout || '[]') as IpAddrJSON[];
    const out: string[] = [];
    for (const l of links) {
      for (const a of l.addr_info ?? []) {
        if (a.family !== 'inet' || a.prefixlen !== 32 || !a.local) continue;
        if ((this.label && a.label === this.label) || inPool(this.pool, ipv4ToInt(a.local))) out.push(a.local);
      }
    }
    return out;
  }

  /** Adds the wanted addresses and removes the others of ours. */
  async sync(wanted: string[], log: (m: string) => void): Promise<void> {
    const have = await this.current();
    for (const ip of wanted) {
      if (have.includes(ip)) continue;
      await run('ip', ['-4', 'addr', 'replace', `${ip}/32`, 'dev', this.iface, ...(this.label ? ['label', this.label] : [])]);
      log(`announcing ${ip}: added ${ip}/32 to ${this.iface}`);
    }
    for (const ip of have) {
      if (wanted.includes(ip)) continue;
      await run('ip', ['-4', 'addr', 'del', `${ip}/32`, 'dev', this.iface], { allowFailure: true });
      log(`no longer announcing ${ip}: removed it from ${this.iface}`);
    }
  }
}

/** The interface carrying the node's address and its network, from `ip -j -4 addr`. */
export async function nodeNetwork(nodeIP: string): Promise<{ iface: string; cidr: string }> {
  const r = await run('ip', ['-j', '-4', 'addr', 'show']);
  const links = JSON.parse(r.stdout || '[]') as IpAddrJSON[];
  for (const l of links) {
    for (const a of l.addr_info ?? []) {
      if (a.family === 'inet' && a.local === nodeIP && l.ifname && typeof a.prefixlen === 'number') return { iface: l.ifname, cidr: `${a.local}/${a.prefixlen}` };
    }
  }
  throw new Error(`no interface of this node has the node address ${nodeIP} (is the pod running with hostNetwork?)`);
}
