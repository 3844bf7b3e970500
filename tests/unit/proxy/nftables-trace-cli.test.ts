// `svclab proxy trace` on nftables rules, as a user runs it: the kind of rules is detected
// from the file (nft listing, nft -f input, or iptables-save), --mode forces it, and bad
// input is one line and a non-zero exit.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const root = new URL('../../..', import.meta.url).pathname;
const svclab = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin/svclab.js'), ...args], { encoding: 'utf8' });
const dir = mkdtempSync(join(tmpdir(), 'svclab-nfttrace-'));
const golden = join(root, 'tests/golden/proxy/overall');
const listing = join(golden, 'expected.nft');
const traceArgs = ['--src', '10.244.5.5', '--dst', '10.96.10.10:80', '--node-ip', '192.168.8.2'];

test('an nft listing is traced with the nftables tracer; --json keeps the iptables tracer\'s shape and says which one ran', () => {
  const text = svclab('proxy', 'trace', '--rules', listing, ...traceArgs);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^tcp 10\.244\.5\.5 -> 10\.96\.10\.10:80 \(arriving at this node\), nftables: 3 possible paths\n/);
  assert.match(text.stdout, /\n\[1\] 33\.3%: DNAT to 10\.244\.0\.7:8080, forwarded, source kept\n/);
  assert.match(text.stdout, /-> numgen random mod 3 = 1 \(probability 1\/3\): goto endpoint-FDH7QP7U-shop\/web\/tcp\/http__10\.244\.1\.5\/8080\n/);

  const json = svclab('proxy', 'trace', '--rules', listing, ...traceArgs, '--json');
  assert.equal(json.status, 0, json.stderr);
  const r = JSON.parse(json.stdout) as { mode: string; origin: string; outcomes: { probability: number; dnat: string; verdict: string; delivery: string; masquerade: boolean; steps: { table: string; chain: string; rule: number; raw: string; action: string; family: string; hook: string }[] }[]; notes: string[] };
  assert.equal(r.mode, 'nftables');
  assert.equal(r.origin, 'external');
  assert.deepEqual(r.outcomes.map((o) => [o.dnat, o.verdict, o.delivery, o.masquerade]), [
    ['10.244.0.7:8080', 'ACCEPT', 'forward', false],
    ['10.244.1.5:8080', 'ACCEPT', 'forward', false],
    ['10.244.2.9:8080', 'ACCEPT', 'forward', false],
  ]);
  const dnat = r.outcomes[0]!.steps.find((s) => s.action.startsWith('DNAT'))!;
  assert.deepEqual(dnat, { family: 'ip', table: 'kube-proxy', chain: 'endpoint-PNLRBKXJ-shop/web/tcp/http__10.244.0.7/8080', rule: 2, raw: 'meta l4proto tcp dnat to 10.244.0.7:8080', action: 'DNAT to 10.244.0.7:8080', hook: 'prerouting' });
});

test('svclab proxy render --proxy-mode nftables output (nft -f commands) is detected and traced too; an iptables render still gets the iptables tracer', () => {
  const flags = readFileSync(join(golden, 'flags'), 'utf8').trim().split(/\s+/);
  const nft = svclab('proxy', 'render', '--proxy-mode', 'nftables', '--state', join(golden, 'state.yaml'), ...flags);
  assert.equal(nft.status, 0, nft.stderr);
  const nftFile = join(dir, 'render.nft');
  writeFileSync(nftFile, nft.stdout);
  const t = svclab('proxy', 'trace', '--rules', nftFile, '--src', '203.0.113.99', '--dst', '192.168.8.2:30110', '--node-ip', '192.168.8.2', '--json');
  assert.equal(t.status, 0, t.stderr);
  const r = JSON.parse(t.stdout) as { mode: string; outcomes: { verdict: string }[] };
  assert.equal(r.mode, 'nftables');
  assert.deepEqual(r.outcomes.map((o) => o.verdict), ['REJECT']);

  const ipt = svclab('proxy', 'render', '--state', join(golden, 'state.yaml'), ...flags);
  const iptFile = join(dir, 'render.iptables');
  writeFileSync(iptFile, ipt.stdout);
  const i = svclab('proxy', 'trace', '--rules', iptFile, ...traceArgs, '--json');
  assert.equal(i.status, 0, i.stderr);
  assert.equal((JSON.parse(i.stdout) as { mode: string }).mode, 'iptables');
});

test('--mode forces a tracer; rules of the other kind, or rules that cannot be read, are one line and exit 1', () => {
  const forcedIpt = svclab('proxy', 'trace', '--rules', listing, ...traceArgs, '--mode', 'iptables');
  assert.equal(forcedIpt.status, 1);
  assert.equal(forcedIpt.stderr, `svclab: rules from file ${listing} cannot be read: line 1: expected a table ("*nat", "*filter"…), got "table ip kube-proxy {"\n`);

  const save = join(dir, 'save.txt');
  writeFileSync(save, '*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n');
  const forcedNft = svclab('proxy', 'trace', '--rules', save, ...traceArgs, '--mode', 'nftables');
  assert.equal(forcedNft.status, 1);
  assert.equal(forcedNft.stderr, `svclab: nftables rules from file ${save} cannot be read: line 1: expected "table FAMILY NAME {" or an nft command, found "*nat"\n`);

  const broken = join(dir, 'broken.nft');
  writeFileSync(broken, 'table ip kube-proxy {\n\tchain services {\n\t\tjump x\n\t}\n\tmap m {\n\t\ttype ipv4_addr : verdict\n\t\telements = { 10.0.0.1 goto x }\n\t}\n}\n');
  const b = svclab('proxy', 'trace', '--rules', broken, ...traceArgs);
  assert.equal(b.status, 1);
  assert.equal(b.stderr, `svclab: nftables rules from file ${broken} cannot be read: line 7: map m: cannot read the elements: expected ":", found "goto"\n`);

  const badMode = svclab('proxy', 'trace', '--rules', listing, ...traceArgs, '--mode', 'ipvs');
  assert.equal(badMode.status, 1);
  assert.match(badMode.stderr, /--mode <mode>' argument 'ipvs' is invalid\. Allowed choices are auto, iptables, nftables/);
});
