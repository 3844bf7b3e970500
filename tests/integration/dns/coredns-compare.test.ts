// The strongest check that svclab answers as CoreDNS does: real CoreDNS 1.12.1 (built from
// the Go module proxy) and svclab's server read the same real API server, and the same
// questions get the same answers from both, compared as dig prints them.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { startDns, type RunningDns } from '../../../runner/dns/run.ts';
import { ensureGoTarget, goBinary } from '../../../runner/images/go-binaries.ts';
import { oneLine } from '../../../runner/errors.ts';
import { loadKubeConfig } from '../../../runner/kube/client.ts';
import { controlPlaneUnavailable, startControlPlane, type ControlPlane } from '../../support/control-plane.ts';
import { dig, type DigResult } from '../../support/dig.ts';

const COREDNS = goBinary('coredns');

/** Builds CoreDNS from the Go module proxy the first time (about 2 minutes, then cached); a reason to skip when that cannot be done. */
async function coreDnsMissing(): Promise<string | undefined> {
  if (existsSync(COREDNS)) return undefined;
  try {
    await ensureGoTarget('coredns');
    return undefined;
  } catch (err) {
    return `CoreDNS could not be built from the Go module proxy: ${oneLine(err)}`;
  }
}

const skip = controlPlaneUnavailable() ?? (await coreDnsMissing());
const H = '127.0.0.1';

const ns = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const svc = (n: string, name: string, spec: object) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: n }, spec });
const slice = (n: string, service: string, name: string, ports: object[] | undefined, endpoints: object[]) => ({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, namespace: n, labels: { 'kubernetes.io/service-name': service } }, addressType: 'IPv4', ...(ports ? { ports } : {}), endpoints });
const http = [{ name: 'http', protocol: 'TCP', port: 80 }];

const STATE = [
  ns('testns'),
  svc('testns', 'svc1', { clusterIP: '10.96.1.1', ports: http }),
  slice('testns', 'svc1', 'svc1-a', http, [{ addresses: ['172.0.0.1'], hostname: 'ep1a', conditions: { ready: true } }]),
  svc('testns', 'svcempty', { clusterIP: '10.96.1.2', ports: http }),
  svc('testns', 'multi', { clusterIP: '10.96.1.3', ports: [{ name: 'http', protocol: 'TCP', port: 80 }, { name: 'dns', protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 8080, name: 'alt' }] }),
  svc('testns', 'hdls1', { clusterIP: 'None', ports: [{ name: 'http', protocol: 'TCP', port: 80 }, { name: 'https', protocol: 'TCP', port: 443 }] }),
  slice('testns', 'hdls1', 'hdls1-a', [{ name: 'http', protocol: 'TCP', port: 80 }, { name: 'https', protocol: 'TCP', port: 443 }], [
    { addresses: ['172.0.0.2'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'pod-a', namespace: 'testns' } },
    { addresses: ['172.0.0.3'], hostname: 'dup-name', conditions: { ready: true } },
    { addresses: ['172.0.0.4'], hostname: 'dup-name', conditions: {} },
    { addresses: ['172.0.0.9'], hostname: 'not-ready', conditions: { ready: false } },
  ]),
  slice('testns', 'hdls1', 'hdls1-b', [{ name: 'http', protocol: 'TCP', port: 80 }, { name: 'https', protocol: 'TCP', port: 443 }], [{ addresses: ['172.0.0.5'], hostname: 'web-0', conditions: { ready: true } }]),
  svc('testns', 'hdlsempty', { clusterIP: 'None', ports: http }),
  svc('testns', 'hdlsnoport', { clusterIP: 'None' }),
  slice('testns', 'hdlsnoport', 'hdlsnoport-a', undefined, [{ addresses: ['172.0.0.20'], conditions: { ready: true } }]),
  svc('testns', 'external', { type: 'ExternalName', externalName: 'ext.interwebs.test' }),
  svc('testns', 'alias', { type: 'ExternalName', externalName: 'svc1.testns.svc.cluster.local' }),
  svc('testns', 'nxalias', { type: 'ExternalName', externalName: 'nothing.interwebs.test' }),
];

const QUESTIONS: [string, string][] = [
  ['svc1.testns.svc.cluster.local', 'A'],
  ['svc1.testns.svc.cluster.local', 'AAAA'],
  ['SvC1.TeStNs.SvC.cLuStEr.LoCaL', 'A'],
  ['svc1.testns.svc.cluster.local', 'SRV'],
  ['_http._tcp.svc1.testns.svc.cluster.local', 'SRV'],
  ['_HTTP._TCP.svc1.testns.svc.cluster.local', 'SRV'],
  ['_nosuch._tcp.svc1.testns.svc.cluster.local', 'SRV'],
  ['_tcp.svc1.testns.svc.cluster.local', 'SRV'],
  ['ep1a.svc1.testns.svc.cluster.local', 'A'],
  ['svcempty.testns.svc.cluster.local', 'A'],
  ['multi.testns.svc.cluster.local', 'SRV'],
  ['_dns._udp.multi.testns.svc.cluster.local', 'SRV'],
  ['hdls1.testns.svc.cluster.local', 'A'],
  ['hdls1.testns.svc.cluster.local', 'SRV'],
  ['_https._tcp.hdls1.testns.svc.cluster.local', 'SRV'],
  ['dup-name.hdls1.testns.svc.cluster.local', 'A'],
  ['172-0-0-2.hdls1.testns.svc.cluster.local', 'A'],
  ['web-0.hdls1.testns.svc.cluster.local', 'A'],
  ['not-ready.hdls1.testns.svc.cluster.local', 'A'],
  ['hdlsempty.testns.svc.cluster.local', 'A'],
  ['hdlsnoport.testns.svc.cluster.local', 'A'],
  ['hdlsnoport.testns.svc.cluster.local', 'SRV'],
  ['external.testns.svc.cluster.local', 'A'],
  ['external.testns.svc.cluster.local', 'CNAME'],
  ['external.testns.svc.cluster.local', 'SRV'],
  ['external.testns.svc.cluster.local', 'TXT'],
  ['alias.testns.svc.cluster.local', 'A'],
  ['nxalias.testns.svc.cluster.local', 'A'],
  ['10-1-2-3.testns.pod.cluster.local', 'A'],
  ['10-1-2-3.testns.pod.cluster.local', 'AAAA'],
  ['10-1-2-3.nons.pod.cluster.local', 'A'],
  ['blah.testns.pod.cluster.local', 'A'],
  ['testns.pod.cluster.local', 'A'],
  ['cluster.local', 'A'],
  ['cluster.local', 'SOA'],
  ['cluster.local', 'NS'],
  ['ns.dns.cluster.local', 'A'],
  ['svc.cluster.local', 'A'],
  ['testns.svc.cluster.local', 'A'],
  ['testns.svc.cluster.local', 'TXT'],
  ['nons.svc.cluster.local', 'A'],
  ['nope.testns.svc.cluster.local', 'A'],
  ['nope.testns.svc.cluster.local', 'SOA'],
  ['svc1.testns.svc.cluster.local', 'MX'],
  ['nope.testns.svc.cluster.local', 'MX'],
  ['svc1.testns.svc.cluster.local', 'HINFO'],
  ['svc1.testns.svc.cluster.local', 'TYPE65'],
  ['dns-version.cluster.local', 'TXT'],
  ['dns-version.cluster.local', 'A'],
  ['foo.cluster.local', 'A'],
  ['a.b.c.svc1.testns.svc.cluster.local', 'A'],
  ['svc1.testns.svc.cluster.local.testns.svc.cluster.local', 'A'],
  ['1.1.96.10.in-addr.arpa', 'PTR'],
  ['2.0.0.172.in-addr.arpa', 'PTR'],
  ['3.0.0.172.in-addr.arpa', 'PTR'],
  ['ext.interwebs.test', 'A'],
];

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, H, () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** Records from outside the cluster carry upstream TTLs, aged by svclab's cache: compare them without TTL. */
const ttlOutside = (l: string) => (/^\S+\.cluster\.local\. /.test(l) ? l : l.replace(/^(\S+) \d+ /, '$1 TTL '));

const norm = (r: DigResult) => ({
  status: r.status,
  flags: r.flags.filter((f) => f !== 'rd').sort(),
  answer: r.answer.map(ttlOutside).sort(),
  authority: r.authority.map((l) => l.replace(/ SOA (\S+ \S+) \d+ /, ' SOA $1 SERIAL ')).sort(),
  additional: [...r.additional].sort(),
});

describe('svclab DNS and CoreDNS side by side', { skip, concurrency: false }, () => {
  let cp: ControlPlane;
  let coredns: ChildProcess;
  let corednsPort = 0;
  let ours: RunningDns;
  let upstream: ReturnType<typeof createSocket>;
  let upstreamTcp: ReturnType<typeof createServer>;

  before(async () => {
    cp = await startControlPlane();
    await cp.apply(STATE as never);
    // A fake upstream on UDP and TCP (CoreDNS forwards over the client's transport).
    const answerFor = (m: Buffer) => {
      const q = dnsPacket.decode(m);
      const name = q.questions?.[0]?.name ?? '';
      const answers = name === 'ext.interwebs.test' && q.questions?.[0]?.type === 'A' ? [{ type: 'A' as const, name, ttl: 77, data: '192.0.2.7' }] : [];
      return Buffer.from(dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE | (answers.length ? 0 : 3), questions: q.questions, answers }));
    };
    const upPort = await freePort();
    upstream = createSocket('udp4');
    upstream.on('message', (m, r) => upstream.send(answerFor(m), r.port, r.address));
    await new Promise<void>((r) => upstream.bind(upPort, H, () => r()));
    upstreamTcp = createServer((c) => {
      let buf = Buffer.alloc(0);
      c.on('error', () => {});
      c.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const reply = answerFor(buf.subarray(2, 2 + buf.readUInt16BE(0)));
          buf = buf.subarray(2 + buf.readUInt16BE(0));
          const head = Buffer.alloc(2);
          head.writeUInt16BE(reply.length);
          c.write(Buffer.concat([head, reply]));
        }
      });
    }).listen(upPort, H);
    corednsPort = await freePort();
    const dir = await mkdtemp(join(tmpdir(), 'svclab-coredns-'));
    await writeFile(join(dir, 'Corefile'), `.:${corednsPort} {\n  bind ${H}\n  kubernetes cluster.local in-addr.arpa ip6.arpa {\n    kubeconfig ${cp.kubeconfig} local\n    pods insecure\n    fallthrough in-addr.arpa ip6.arpa\n    ttl 30\n  }\n  forward . ${H}:${upPort}\n}\n`);
    coredns = spawn(COREDNS, ['-conf', join(dir, 'Corefile')], { stdio: 'ignore' });
    ours = await startDns({ zones: ['cluster.local', 'in-addr.arpa', 'ip6.arpa'], ttl: 30, pods: 'insecure', endpointPodNames: false, listen: { host: H, port: 0 }, source: { kind: 'live', kubeconfig: loadKubeConfig(cp.kubeconfig) }, upstreams: [{ host: H, port: upPort }], log: () => {} });
    for (let i = 0; i < 100; i++) {
      const [a, b] = await Promise.all([dig(H, corednsPort, ['web-0.hdls1.testns.svc.cluster.local']), dig(H, ours.port, ['web-0.hdls1.testns.svc.cluster.local'])]);
      if (a.answer.length && b.answer.length) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  after(async () => {
    coredns?.kill();
    await ours?.close();
    upstream?.close();
    upstreamTcp?.close();
    await cp?.stop();
  });

  for (const [name, type] of QUESTIONS) {
    test(`${name} ${type}`, async () => {
      for (const t of ['+notcp', '+tcp']) {
        const [theirs, mine] = await Promise.all([dig(H, corednsPort, [name, type, t]), dig(H, ours.port, [name, type, t])]);
        assert.deepEqual(norm(mine), norm(theirs), `${t}\n--- CoreDNS\n${theirs.raw}\n--- svclab\n${mine.raw}`);
      }
    });
  }
});
