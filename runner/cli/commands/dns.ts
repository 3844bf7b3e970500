import { Option, type Command } from 'commander';
import { startDns, type DnsOptions } from '../../dns/run.ts';
import { parseListen, type Listen } from '../../dns/server.ts';
import { resolvConfUpstreams, type Upstream } from '../../dns/forwarder.ts';
import { UserError } from '../../errors.ts';
import { loadKubeConfig } from '../../kube/client.ts';
import { readStateFile } from '../../kube/state-file.ts';
import { kubeconfigPath } from '../../cluster/state.ts';
import { Answerer } from '../../core/dns/answer.ts';
import { Backend, parsePodMode, POD_MODES, type PodMode } from '../../core/dns/backend.ts';
import { ClusterIndex } from '../../core/dns/cluster-index.ts';
import { explain, formatExplanation } from '../../core/dns/explain.ts';
import { fqdn } from '../../core/dns/names.ts';
import { listClusterObjects } from '../../kube/list.ts';

interface CommonFlags {
  zone: string;
  ttl: string;
  pods: PodMode;
  endpointPodNames: boolean;
  listen: string;
  upstream: string[];
  resolvConf: string;
}

const collect = (v: string, prev: string[]) => [...prev, v];

function listenFlag(v: string, flag: string): Listen {
  const l = parseListen(v);
  if (!l) throw new UserError(`invalid ${flag} "${v}": use HOST:PORT, e.g. 127.0.0.1:5353`);
  return l;
}

function podsFlag(v: string): PodMode {
  const mode = parsePodMode(v, '--pods');
  if (typeof mode !== 'string') throw new UserError(mode.error);
  return mode;
}

const podsOption = (description: string) => new Option('--pods <mode>', description).choices([...POD_MODES]).argParser(podsFlag).default('insecure');

function common(cmd: Command, defaultListen: string): Command {
  return cmd
    .option('--zone <zone>', 'the cluster domain', 'cluster.local')
    .option('--ttl <seconds>', 'TTL of cluster records (CoreDNS kubernetes plugin `ttl`; kubeadm sets 30)', '30')
    .addOption(podsOption('pod records a-b-c-d.<ns>.pod.<zone> (CoreDNS `pods`)'))
    .option('--endpoint-pod-names', 'name endpoints without a hostname after their pod (CoreDNS `endpoint_pod_names`)', false)
    .option('--listen <host:port>', 'where to answer DNS over UDP and TCP', defaultListen)
    .option('--upstream <host:port>', 'a resolver for names outside the cluster zones (repeatable; default: those of --resolv-conf)', collect, [])
    .option('--resolv-conf <file>', 'where the default upstream resolvers come from', '/etc/resolv.conf');
}

function options(f: CommonFlags): Omit<DnsOptions, 'source'> {
  const ttl = Number(f.ttl);
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 3600) throw new UserError(`invalid --ttl "${f.ttl}": a whole number of seconds from 0 to 3600`);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\.?$/i.test(f.zone)) throw new UserError(`invalid --zone "${f.zone}": a domain name like cluster.local`);
  const upstreams: Upstream[] = f.upstream.length ? f.upstream.map((u) => listenFlag(u, '--upstream')) : resolvConfUpstreams(f.resolvConf);
  return { zones: [f.zone, 'in-addr.arpa', 'ip6.arpa'], ttl, pods: f.pods, endpointPodNames: f.endpointPodNames, listen: listenFlag(f.listen, '--listen'), upstreams };
}

async function runUntilStopped(o: DnsOptions): Promise<void> {
  let dns;
  try {
    dns = await startDns(o);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UserError(`${o.listen.host}:${o.listen.port} is already in use: pass --listen with another address or port`);
    if (code === 'EACCES') throw new UserError(`not allowed to listen on port ${o.listen.port}: run as root or pick a port above 1023 with --listen`);
    if (code === 'EADDRNOTAVAIL') throw new UserError(`${o.listen.host} is not an address of this machine: pass --listen with a local address`);
    throw err;
  }
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
  });
  await dns.close();
}

async function explainAction(name: string, type: string | undefined, f: { state?: string; kubeconfig?: string; cluster?: string; zone: string; ttl: string; pods: PodMode; endpointPodNames: boolean; json: boolean }): Promise<void> {
  const sources = [f.state, f.kubeconfig, f.cluster].filter(Boolean).length;
  if (sources > 1) throw new UserError('give one of --state FILE, --kubeconfig FILE or --cluster NAME');
  const t = (type ?? 'A').toUpperCase();
  if (!/^([A-Z]+|TYPE\d+)$/.test(t)) throw new UserError(`"${type}" is not a query type: use A, AAAA, SRV, PTR, TXT, CNAME, …`);
  const index = new ClusterIndex();
  if (f.state) index.replaceAll(await readStateFile(f.state));
  else {
    const kc = loadKubeConfig(f.kubeconfig ?? (f.cluster ? kubeconfigPath(f.cluster) : undefined));
    index.replaceAll(await listClusterObjects(kc, f.pods === 'verified'));
  }
  index.synced = true;
  const o = options({ ...f, listen: '127.0.0.1:53', upstream: [], resolvConf: '/dev/null' });
  const backend = new Backend(index, { zones: o.zones.map(fqdn), ttl: o.ttl, pods: o.pods, endpointPodNames: o.endpointPodNames, localIPs: [] });
  const ex = explain(new Answerer(backend), name, t);
  process.stdout.write(f.json ? `${JSON.stringify(ex, null, 2)}\n` : formatExplanation(ex));
}

export function registerDns(program: Command): void {
  const dns = program.command('dns').description("svclab's cluster DNS server (CoreDNS's kubernetes plugin behaviour): serve a state file, run against a cluster, or explain a name");

  common(dns.command('serve').description('serve cluster DNS from a state file (a kubectl List of Services, EndpointSlices, Namespaces, Pods), reloading it when it changes'), '127.0.0.1:5353')
    .requiredOption('--state <file>', 'the kubectl List (JSON or YAML)')
    .action(async (f: CommonFlags & { state: string }) => {
      await runUntilStopped({ ...options(f), source: { kind: 'file', path: f.state } });
    });

  dns
    .command('explain <name> [type]')
    .description('explain a DNS name: how it is parsed, which objects answer it, why it is NXDOMAIN or NODATA if it is, and the answer')
    .option('--state <file>', 'answer from a state file (a kubectl List)')
    .option('--kubeconfig <file>', 'answer from a live cluster')
    .option('--cluster <name>', 'answer from a svclab cluster (default when nothing else is given: svclab)')
    .option('--zone <zone>', 'the cluster domain', 'cluster.local')
    .option('--ttl <seconds>', 'TTL of cluster records', '30')
    .addOption(podsOption('pod records mode'))
    .option('--endpoint-pod-names', 'name endpoints without a hostname after their pod', false)
    .option('--json', 'print the explanation as JSON', false)
    .action((name: string, type: string | undefined, f: Parameters<typeof explainAction>[2]) => explainAction(name, type, !f.state && !f.kubeconfig && !f.cluster ? { ...f, cluster: 'svclab' } : f));

  common(dns.command('run').description('serve cluster DNS from a live cluster through informers, with /health, /ready and /metrics like CoreDNS'), '0.0.0.0:53')
    .option('--kubeconfig <file>', 'the cluster (default: in-cluster config, $KUBECONFIG, ~/.kube/config)')
    .option('--health-addr <host:port>', 'GET /health (CoreDNS health plugin)', ':8080')
    .option('--ready-addr <host:port>', 'GET /ready: 200 once synced (CoreDNS ready plugin)', ':8181')
    .option('--metrics-addr <host:port>', 'Prometheus /metrics under CoreDNS names', ':9153')
    .action(async (f: CommonFlags & { kubeconfig?: string; healthAddr: string; readyAddr: string; metricsAddr: string }) => {
      await runUntilStopped({
        ...options(f),
        source: { kind: 'live', kubeconfig: loadKubeConfig(f.kubeconfig) },
        health: listenFlag(f.healthAddr, '--health-addr'),
        ready: listenFlag(f.readyAddr, '--ready-addr'),
        metrics: listenFlag(f.metricsAddr, '--metrics-addr'),
      });
    });
}
