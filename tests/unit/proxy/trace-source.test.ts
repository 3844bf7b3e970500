// Which tracer a live node gets (`svclab proxy trace --node`, the lesson widget): the node
// is asked for kube-proxy's nftables table first; without one (or without nft) its
// iptables-save dump is traced. --mode forces either, with a one-line reason when the node
// cannot give those rules. The node is a fake Exec answering as nft and iptables-save do.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { UserError } from '../../../runner/errors.ts';
import type { Exec } from '../../../runner/proxy/exec.ts';
import { execRulesSource, traceFromSource } from '../../../runner/proxy/trace-source.ts';

const listing = readFileSync(new URL('../../golden/proxy/overall/expected.nft', import.meta.url), 'utf8');
const SAVE = '*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n';
const ADDR = '2: eth0    inet 192.168.8.2/24 brd 192.168.8.255 scope global eth0\\       valid_lft forever preferred_lft forever\n';

function node(nft: { code: number; stdout?: string; stderr?: string }): { exec: Exec; calls: string[] } {
  const calls: string[] = [];
  const exec: Exec = async (cmd, args) => {
    calls.push([cmd, ...args].join(' '));
    if (cmd === 'nft') return { code: nft.code, stdout: nft.stdout ?? '', stderr: nft.stderr ?? '' };
    if (cmd === 'iptables-save') return { code: 0, stdout: SAVE, stderr: '' };
    if (cmd === 'ip') return { code: 0, stdout: ADDR, stderr: '' };
    throw new Error(`unexpected ${cmd}`);
  };
  return { exec, calls };
}

const packet = { src: '10.244.5.5', dst: '10.96.10.10:80', proto: 'tcp' as const };
const NO_TABLE = { code: 1, stderr: 'Error: No such file or directory\nlist table ip kube-proxy\n              ^^^^^^^^^^\n' };
const NO_NFT = { code: 127, stderr: 'OCI runtime exec failed: exec failed: unable to start container process: exec: "nft": executable file not found in $PATH: unknown\n' };

test('a node with kube-proxy\'s nftables table is traced in nftables mode, through the table nft lists', async () => {
  const n = node({ code: 0, stdout: listing });
  const r = await traceFromSource(execRulesSource(n.exec, 'node kind-worker'), packet);
  assert.equal(r.mode, 'nftables');
  assert.deepEqual(r.outcomes.map((o) => o.dnat), ['10.244.0.7:8080', '10.244.1.5:8080', '10.244.2.9:8080']);
  assert.deepEqual(n.calls, ['nft list table ip kube-proxy', 'ip -o addr show']);
  assert.ok(r.notes.some((x) => x.startsWith('read table ip kube-proxy only')));
  // The node's own address comes from `ip addr`: its NodePort is one.
  const np = await traceFromSource(execRulesSource(n.exec, 'node kind-worker'), { ...packet, src: '203.0.113.99', dst: '192.168.8.2:30080' });
  assert.deepEqual(np.outcomes.map((o) => [o.dnat, o.masquerade]), [['10.244.1.20:8080', true]]);
});

test('without the table, or without nft, the node\'s iptables-save is traced; --mode iptables does not ask nft', async () => {
  for (const nft of [NO_TABLE, NO_NFT]) {
    const n = node(nft);
    const r = await traceFromSource(execRulesSource(n.exec, 'node kind-worker'), packet);
    assert.equal(r.mode, 'iptables');
    assert.deepEqual(n.calls, ['nft list table ip kube-proxy', 'iptables-save', 'ip -o addr show']);
  }
  const n = node({ code: 0, stdout: listing });
  assert.equal((await traceFromSource(execRulesSource(n.exec, 'node kind-worker'), { ...packet, mode: 'iptables' })).mode, 'iptables');
  assert.deepEqual(n.calls, ['iptables-save', 'ip -o addr show']);
});

test('--mode nftables on a node without the table or without nft: one line saying why', async () => {
  await assert.rejects(traceFromSource(execRulesSource(node(NO_TABLE).exec, 'node kind-worker'), { ...packet, mode: 'nftables' }), (err: Error) => err instanceof UserError && err.message === 'node kind-worker has no nftables table ip kube-proxy: its kube-proxy is not in nftables mode (trace with --mode iptables)');
  await assert.rejects(traceFromSource(execRulesSource(node(NO_NFT).exec, 'node kind-worker'), { ...packet, mode: 'nftables' }), (err: Error) => err instanceof UserError && err.message === 'cannot read the nftables rules of node kind-worker: no nft command on node kind-worker (Debian package nftables)');
});

test('an IPv6 destination asks for the ip6 table', async () => {
  const n = node(NO_TABLE);
  await traceFromSource(execRulesSource(n.exec, 'node kind-worker'), { src: 'fd00::5', dst: '[fd00:10:96::10]:80', proto: 'tcp' });
  assert.equal(n.calls[0], 'nft list table ip6 kube-proxy');
});
