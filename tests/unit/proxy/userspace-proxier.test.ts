// The userspace proxier's sockets with real TCP and UDP on loopback (no root, no
// namespaces: the proxy listens on 127.0.0.1 and the test connects to its proxy ports
// directly, where the portal rules would send service traffic). iptables is a recorder.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { jumpRuleText } from '../../../runner/core/proxy/chains.ts';
import { RoundRobinBalancer } from '../../../runner/core/proxy/userspace/balancer.ts';
import { USERSPACE_JUMPS } from '../../../runner/core/proxy/userspace/chains.ts';
import type { Exec } from '../../../runner/proxy/exec.ts';
import type { Iptables } from '../../../runner/proxy/iptables.ts';
import { UserspaceProxier } from '../../../runner/proxy/userspace/proxier.ts';
import { service, settings, slice } from './fixtures.ts';

/** A node where the jump rules already exist: each rules write is then one restore. */
const SAVED = ['filter', 'nat']
  .map((t) => [`*${t}`, ...USERSPACE_JUMPS.filter((j) => j.table === t).flatMap((j) => [`:${j.dstChain} - [0:0]`, `-A ${j.srcChain} ${jumpRuleText(j)}`]), 'COMMIT'].join('\n'))
  .join('\n');

class RecordingIptables implements Iptables {
  readonly backend = 'nft' as const;
  readonly hasRandomFully = true;
  restores: string[] = [];
  async ensureChain() {
    return true;
  }
  async chainExists() {
    return true;
  }
  async deleteChain() {}
  async ensureRule() {
    return true;
  }
  async deleteRule() {}
  async save() {
    return SAVED;
  }
  async restoreAll(data: string) {
    this.restores.push(data);
  }
}

const execs: string[][] = [];
const exec: Exec = async (cmd, args) => {
  execs.push([cmd, ...args]);
  return { code: 1, stdout: '', stderr: '' };
};

/** A TCP backend answering "<name> <peer address>"; a UDP one echoing "<name> <payload>". */
async function backend(name: string): Promise<{ port: number; server: Server; udp: ReturnType<typeof createSocket> }> {
  const server = createServer((c) => c.end(`${name} ${c.remoteAddress}\n`));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const udp = createSocket('udp4');
  udp.on('message', (m, r) => udp.send(`${name} ${m.toString()}`, r.port, r.address));
  await new Promise<void>((r) => udp.bind(port, '127.0.0.1', r));
  return { port, server, udp };
}

function ask(port: number): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const s = connect({ host: '127.0.0.1', port });
    s.setTimeout(3000, () => {
      s.destroy();
      resolve('ERR timeout');
    });
    s.on('data', (d) => (data += d));
    s.on('end', () => resolve(data.trim()));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(`ERR ${e.code}`));
  });
}

async function askMany(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await ask(port)).split(' ')[0]!);
  return out;
}

function udpClient() {
  const s = createSocket('udp4');
  const ready = new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return {
    async send(port: number, payload: string, timeoutMs = 1000): Promise<string> {
      await ready;
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          s.removeAllListeners('message');
          resolve('ERR timeout');
        }, timeoutMs);
        s.once('message', (m) => {
          clearTimeout(t);
          resolve(m.toString());
        });
        s.send(payload, port, '127.0.0.1');
      });
    },
    close: () => s.close(),
  };
}

let a: Awaited<ReturnType<typeof backend>>;
let b: Awaited<ReturnType<typeof backend>>;
let deadPort: number;
const keepOrder = () => 0.999999;
/** The backends' names in the order the balancer takes them (endpoints sort as "ip:port" strings). */
const inTurn = () => [a, b].sort((x, y) => (`127.0.0.1:${x.port}` < `127.0.0.1:${y.port}` ? -1 : 1)).map((x) => (x === a ? 'a' : 'b'));

before(async () => {
  a = await backend('a');
  b = await backend('b');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  deadPort = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
});

after(() => {
  for (const x of [a, b]) {
    x.server.close();
    x.udp.close();
  }
});

function newProxier(o: { portRange?: { base: number; size: number }; udpIdleTimeoutMs?: number } = {}) {
  const iptables = new RecordingIptables();
  const logs: string[] = [];
  const proxier = new UserspaceProxier({
    settings: settings({ bindAddress: '127.0.0.1', localAddresses: ['127.0.0.1'] }),
    node: null,
    iptables,
    exec,
    syncPeriodMs: 60_000,
    minSyncPeriodMs: 0,
    log: (l) => logs.push(l),
    userspace: { portRange: o.portRange ?? null, udpIdleTimeoutMs: o.udpIdleTimeoutMs ?? 250 },
    balancer: new RoundRobinBalancer({ random: keepOrder }),
  });
  return { proxier, iptables, logs };
}

/** One slice per endpoint port (a slice has one port number per port name). */
function slicesFor(svc: string, ports: number[], protocol = 'TCP') {
  return ports.map((p, i) => slice('lab', svc, [{ addresses: ['127.0.0.1'], conditions: { ready: true } }], p, `${svc}-${i}`, 'http', protocol));
}

async function start(p: UserspaceProxier, services: ReturnType<typeof service>[], slices: ReturnType<typeof slice>[]) {
  for (const s of services) p.onServiceUpdate(null, s);
  for (const s of slices) p.onEndpointSliceUpdate(s, false);
  await p.onServicesSynced();
  assert.equal(await p.onEndpointSlicesSynced(), true);
}

test('TCP: each connection to the proxy port reaches the next endpoint, from the proxy\'s own address; the rules DNAT to the bind address', async () => {
  const { proxier, iptables } = newProxier();
  await start(proxier, [service('lab', 'web', '10.96.0.10')], slicesFor('web', [a.port, b.port]));
  const port = proxier.proxyPorts().get('lab/web:http/TCP')!;
  assert.ok(port > 0);
  const [first, second] = inTurn();
  assert.deepEqual(await askMany(port, 4), [first, second, first, second]);
  assert.match(await ask(port), / 127\.0\.0\.1$/);
  const rules = iptables.restores.at(-1)!;
  assert.ok(rules.includes(`-A KUBE-PORTALS-CONTAINER -d 10.96.0.10/32 -p tcp -m comment --comment "lab/web:http" -m tcp --dport 80 -j DNAT --to-destination 127.0.0.1:${port}`), rules);
  await proxier.shutdown();
  assert.equal(await ask(port), 'ERR ECONNREFUSED', 'the socket is closed');
});

test('an endpoint that refuses is skipped for the next one in turn; the client never notices', async () => {
  const { proxier, logs } = newProxier();
  await start(proxier, [service('lab', 'web', '10.96.0.10')], slicesFor('web', [a.port, deadPort]));
  const port = proxier.proxyPorts().get('lab/web:http/TCP')!;
  const answers = await askMany(port, 6);
  assert.deepEqual(answers, ['a', 'a', 'a', 'a', 'a', 'a']);
  assert.ok(logs.some((l) => l.includes(`dial tcp 127.0.0.1:${deadPort}: connect ECONNREFUSED`)), logs.join('\n'));
  await proxier.shutdown();
});

test('no endpoint: the connection is accepted and closed with nothing sent; the log says why', async () => {
  const { proxier, logs } = newProxier();
  await start(proxier, [service('lab', 'empty', '10.96.0.50')], []);
  const port = proxier.proxyPorts().get('lab/empty:http/TCP')!;
  const answer = await ask(port);
  assert.ok(answer === '' || answer === 'ERR ECONNRESET', answer);
  assert.ok(logs.includes("couldn't find an endpoint for lab/empty:http: missing endpoints"), logs.join('\n'));
  await proxier.shutdown();
});

test('an endpoint change updates the balancer without touching iptables; a Service change rewrites the rules', async () => {
  const { proxier, iptables } = newProxier();
  await start(proxier, [service('lab', 'web', '10.96.0.10')], slicesFor('web', [a.port, b.port]));
  const port = proxier.proxyPorts().get('lab/web:http/TCP')!;
  const writes = iptables.restores.length;
  proxier.onEndpointSliceUpdate(slicesFor('web', [a.port, b.port])[1]!, true);
  assert.equal(await proxier.syncProxyRules(), true);
  assert.equal(iptables.restores.length, writes, 'no iptables-restore for an endpoint change');
  assert.deepEqual(await askMany(port, 3), ['a', 'a', 'a'], 'b is gone');
  proxier.onServiceUpdate(service('lab', 'web', '10.96.0.10'), service('lab', 'web', '10.96.0.10', (s) => {
    s.spec!.type = 'NodePort';
    s.spec!.ports![0]!.nodePort = 0;
    s.spec!.externalIPs = ['203.0.113.9'];
  }));
  assert.equal(await proxier.syncProxyRules(), true);
  assert.equal(iptables.restores.length, writes + 1);
  assert.ok(iptables.restores.at(-1)!.includes('-d 203.0.113.9/32'));
  assert.equal(proxier.proxyPorts().get('lab/web:http/TCP'), port, 'the same socket: only the rules changed');
  await proxier.shutdown();
});

test('--proxy-port-range: proxy ports come from the range, skipping a port someone else holds, and go back when the service goes', async () => {
  // Three consecutive free ports below the kernel's ephemeral range, the middle one held by someone else.
  const listenOn = (port: number) =>
    new Promise<Server | null>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(null));
      s.listen(port, '127.0.0.1', () => resolve(s));
    });
  let base = 0;
  let squatter: Server | null = null;
  while (!squatter) {
    base = 20000 + Math.floor(Math.random() * 10000);
    const [lo, mid, hi] = await Promise.all([listenOn(base), listenOn(base + 1), listenOn(base + 2)]);
    for (const s of [lo, hi]) s?.close();
    if (lo && mid && hi) squatter = mid;
    else mid?.close();
  }
  try {
    const { proxier } = newProxier({ portRange: { base, size: 3 } });
    await start(proxier, [service('lab', 'one', '10.96.0.1'), service('lab', 'two', '10.96.0.2')], []);
    const ports = [...proxier.proxyPorts().values()].sort();
    assert.deepEqual(ports, [base, base + 2]);
    proxier.onServiceUpdate(service('lab', 'one', '10.96.0.1'), null);
    await proxier.syncProxyRules();
    proxier.onServiceUpdate(null, service('lab', 'three', '10.96.0.3'));
    await proxier.syncProxyRules();
    assert.deepEqual([...proxier.proxyPorts().values()].sort(), ports, 'the freed port is reused');
    proxier.onServiceUpdate(null, service('lab', 'four', '10.96.0.4'));
    await proxier.syncProxyRules();
    assert.equal(proxier.proxyPorts().has('lab/four:http/TCP'), false, 'the range is full');
    await proxier.shutdown();
  } finally {
    squatter.close();
  }
});

test('UDP: one session per client address, replies come back through the proxy port, idle sessions end, removed endpoints drop theirs', async () => {
  const { proxier } = newProxier({ udpIdleTimeoutMs: 300 });
  const dns = service('lab', 'dns', '10.96.0.53', (s) => (s.spec!.ports = [{ name: 'http', port: 53, protocol: 'UDP' }]));
  await start(proxier, [dns], slicesFor('dns', [a.port, b.port], 'UDP'));
  const port = proxier.proxyPorts().get('lab/dns:http/UDP')!;
  const [first, second] = inTurn();
  const c1 = udpClient();
  const c2 = udpClient();
  try {
    assert.equal(await c1.send(port, 'x'), `${first} x`);
    assert.equal(await c1.send(port, 'y'), `${first} y`, 'same client address, same session');
    assert.equal(await c2.send(port, 'z'), `${second} z`, 'another client address takes the next endpoint');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await c1.send(port, 'w'), `${first} w`, 'after the idle timeout a new session, next in turn');
    // Removing c1's endpoint ends its session at once: the next datagram starts one on what is left.
    proxier.onEndpointSliceUpdate(slicesFor('dns', [a.port, b.port], 'UDP')[first === 'a' ? 0 : 1]!, true);
    assert.equal(await proxier.syncProxyRules(), true);
    assert.equal(await c1.send(port, 'v'), `${second} v`);
  } finally {
    c1.close();
    c2.close();
    await proxier.shutdown();
  }
  assert.ok(execs.some((e) => e.join(' ') === 'conntrack -D -p udp --orig-dst 10.96.0.53'), 'stale UDP flows of the service IP are cleared');
});
