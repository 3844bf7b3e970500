// Answers leave from the address the query was sent to. `svclab dns serve --listen 0.0.0.0:53`
// runs in a network namespace of its own with several local addresses (127.0.0.1 and the
// alias 127.0.0.2 on lo, 10.53.0.1 and 10.53.0.2 on a veth); a query to each of them must
// be answered from that same address, or dig drops the reply ("reply from unexpected
// source") and stub resolvers with connected sockets never see it. An address added while
// the server runs is picked up too.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { repoRoot } from '../../support/cli.ts';
import { canUseNetns, NetnsLab, type Netns } from '../../support/netns.ts';
import { objects } from '../../unit/dns/fixtures.ts';

const NAME = 'svc1.testns.svc.cluster.local';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends one A query from `from` to `to`:53 with a plain UDP socket inside the namespace and
 * reports the source address and port of the reply and the addresses in it.
 */
async function rawQuery(ns: Netns, from: string, to: string): Promise<{ address: string; port: number; answers: string[] } | { error: string }> {
  const query = Buffer.from(dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: NAME }] })).toString('hex');
  const script = `
    import { createSocket } from 'node:dgram';
    const [from, to, hex] = process.argv.slice(1);
    const s = createSocket('udp4');
    const timer = setTimeout(() => { console.log(JSON.stringify({ error: 'no reply' })); s.close(); }, 3000);
    s.on('message', (m, rinfo) => {
      clearTimeout(timer);
      // The A records' data: the last 4 bytes of each 16-byte compressed answer record.
      const an = m.readUInt16BE(6), answers = [];
      for (let i = 0; i < an; i++) { const end = m.length - i * 16; answers.unshift([...m.subarray(end - 4, end)].join('.')); }
      console.log(JSON.stringify({ address: rinfo.address, port: rinfo.port, answers }));
      s.close();
    });
    s.bind(0, from, () => s.send(Buffer.from(hex, 'hex'), 53, to));`;
  return JSON.parse((await ns.node(script, [from, to, query], 10_000)).trim()) as never;
}

describe('answers from the address the query was sent to', { concurrency: false }, async () => {
  const usable = await canUseNetns();
  const lab = new NetnsLab('svdns');
  let ns: Netns;

  before(async () => {
    if (!usable) return;
    const dir = await mkdtemp(join(tmpdir(), 'svclab-dns-src-'));
    const state = join(dir, 'state.json');
    await writeFile(state, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
    ns = await lab.netns('srv');
    await ns.exec(['ip', 'addr', 'add', '127.0.0.2/8', 'dev', 'lo']);
    await ns.exec(['ip', 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb']);
    await ns.exec(['ip', 'addr', 'add', '10.53.0.1/24', 'dev', 'va']);
    await ns.exec(['ip', 'addr', 'add', '10.53.0.2/24', 'dev', 'va']);
    await ns.exec(['ip', 'link', 'set', 'va', 'up']);
    await ns.exec(['ip', 'link', 'set', 'vb', 'up']);
    const server = ns.spawn([process.execPath, join(repoRoot, 'bin/svclab.js'), 'dns', 'serve', '--state', state, '--listen', '0.0.0.0:53', '--upstream', '127.0.0.1:9']);
    let stderr = '';
    server.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    for (let i = 0; ; i++) {
      if (/serving cluster\.local/.test(stderr)) break;
      if (server.exitCode !== null || i > 300) throw new Error(`svclab dns serve did not start: ${stderr}`);
      await sleep(100);
    }
  });
  after(() => lab.dispose());

  const dig = (server: string, ...args: string[]) => ns.exec(['dig', `@${server}`, '+tries=1', '+time=2', NAME, 'A', ...args], { allowFail: true });

  test('a raw UDP socket sees each reply come from the address it asked, with the answer', { skip: !usable && 'needs root and ip netns' }, async () => {
    for (const [from, to] of [
      ['127.0.0.1', '127.0.0.1'],
      ['127.0.0.1', '127.0.0.2'],
      ['127.0.0.2', '127.0.0.2'],
      ['10.53.0.1', '10.53.0.2'],
      ['127.0.0.1', '10.53.0.1'],
    ]) {
      assert.deepEqual(await rawQuery(ns, from!, to!), { address: to, port: 53, answers: ['10.0.0.1'] }, `${from} -> ${to}`);
    }
  });

  test('dig @127.0.0.2 and @10.53.0.2 get their answer over UDP (no "reply from unexpected source") and over TCP', { skip: !usable && 'needs root and ip netns' }, async () => {
    for (const server of ['127.0.0.2', '10.53.0.2']) {
      for (const t of ['+notcp', '+tcp']) {
        const r = await dig(server, t);
        assert.doesNotMatch(r.stdout, /unexpected source|timed out|no servers/, `${server} ${t}: ${r.stdout}`);
        assert.match(r.stdout, /status: NOERROR/, `${server} ${t}`);
        assert.match(r.stdout, new RegExp(`SERVER: ${server.replace(/\./g, '\\.')}#53\\(${server.replace(/\./g, '\\.')}\\) \\(${t === '+tcp' ? 'TCP' : 'UDP'}\\)`), `${server} ${t}`);
        assert.match(r.stdout, /svc1\.testns\.svc\.cluster\.local\.\s+30\s+IN\s+A\s+10\.0\.0\.1/, `${server} ${t}`);
      }
    }
  });

  test('an address added while the server runs is answered from within a few seconds, from that address', { skip: !usable && 'needs root and ip netns' }, async () => {
    await ns.exec(['ip', 'addr', 'add', '10.53.0.9/24', 'dev', 'va']);
    let r: Awaited<ReturnType<typeof rawQuery>> = { error: 'not tried' };
    const t0 = Date.now();
    while (Date.now() - t0 < 8000) {
      r = await rawQuery(ns, '10.53.0.1', '10.53.0.9');
      if (!('error' in r)) break;
      await sleep(250);
    }
    assert.deepEqual(r, { address: '10.53.0.9', port: 53, answers: ['10.0.0.1'] });
    assert.match((await dig('10.53.0.9')).stdout, /IN\s+A\s+10\.0\.0\.1/);
    // And one removed is let go of (the socket closes, the others keep answering).
    await ns.exec(['ip', 'addr', 'del', '10.53.0.9/24', 'dev', 'va']);
    await sleep(3000);
    const ss = await ns.exec(['ss', '-Huln', 'sport', '=', ':53']);
    assert.doesNotMatch(ss.stdout, /10\.53\.0\.9:53/);
    assert.match(ss.stdout, /10\.53\.0\.2:53/);
    assert.deepEqual(await rawQuery(ns, '127.0.0.1', '127.0.0.2'), { address: '127.0.0.2', port: 53, answers: ['10.0.0.1'] });
  });
});
