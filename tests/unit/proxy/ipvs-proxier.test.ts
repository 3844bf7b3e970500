// The IPVS mode's start checks and its proxier's sync loop, with the node's programs
// replaced by recorders (the real ones are exercised in tests/integration/proxy/ipvs-*.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_IPVS_SETTINGS } from '../../../runner/core/proxy/ipvs/options.ts';
import { UserError } from '../../../runner/errors.ts';
import type { Exec } from '../../../runner/proxy/exec.ts';
import { ProxyHealth } from '../../../runner/proxy/health.ts';
import { RestoreError, type Iptables } from '../../../runner/proxy/iptables.ts';
import { IpvsProxier } from '../../../runner/proxy/ipvs/proxier.ts';
import { checkIpvsSupport } from '../../../runner/proxy/ipvs/support.ts';
import { newIpvsadm, type IpLinks, type Ipset } from '../../../runner/proxy/ipvs/tools.ts';
import { newMetrics } from '../../../runner/proxy/metrics.ts';
import { memoryIpvsadm } from '../../support/ipvs-memory.ts';
import { NODE, NODE_IP, service, settings, slice } from './fixtures.ts';

type Answer = { code: number; stdout?: string; stderr?: string } | Error;

/** An Exec that answers each "cmd args" by the first matching rule and records the calls. */
function fakeExec(rules: [RegExp, Answer][]): Exec & { calls: string[] } {
  const calls: string[] = [];
  const exec = (async (cmd: string, args: string[]) => {
    const line = [cmd, ...args].join(' ');
    calls.push(line);
    const hit = rules.find(([re]) => re.test(line));
    if (!hit) return { code: 0, stdout: '', stderr: '' };
    if (hit[1] instanceof Error) throw hit[1];
    return { stdout: '', stderr: '', ...hit[1] };
  }) as Exec & { calls: string[] };
  exec.calls = calls;
  return exec;
}

const oneLineUserError = async (p: Promise<unknown>, re: RegExp) => {
  const err = await p.then(() => null, (e: Error) => e);
  assert.ok(err instanceof UserError, String(err));
  assert.match(err.message, re);
  assert.equal(err.message.split('\n').length, 1);
};

test('a kernel without IPVS: refused in one line with the reason, after trying modprobe ip_vs like libipvs', async () => {
  const exec = fakeExec([[/^cat \/proc\/net\/ip_vs/, { code: 1, stderr: 'No such file' }], [/^modprobe/, { code: 1, stderr: 'modprobe: FATAL: Module ip_vs not found in directory /lib/modules/6.18.44\nmore' }]]);
  await oneLineUserError(checkIpvsSupport(exec, DEFAULT_IPVS_SETTINGS), /^--proxy-mode=ipvs: can't use the IPVS proxier: this kernel has no IPVS \(no \/proc\/net\/ip_vs; modprobe ip_vs: modprobe: FATAL: Module ip_vs not found in directory \/lib\/modules\/6\.18\.44\); keeping the current mode$/);
  assert.ok(exec.calls.includes('modprobe -va ip_vs'));
  assert.ok(!exec.calls.some((c) => c.startsWith('ipvsadm')), 'nothing else is tried');
});

test('ipvsadm or ipset missing: one line naming the Debian package, however the command was run', async () => {
  const proc: [RegExp, Answer] = [/^cat \/proc\/net\/ip_vs/, { code: 0, stdout: 'IP Virtual Server version 1.2.1 (size=4096)\n' }];
  // Run directly: the spawn fails.
  await oneLineUserError(checkIpvsSupport(fakeExec([proc, [/^ipvsadm/, new Error('ipvsadm failed (exit signal): ipvsadm: command not found')]]), DEFAULT_IPVS_SETTINGS), /^ipvsadm not found: install Debian's ipvsadm package \(apt-get install ipvsadm\)/);
  // Through ip netns exec (--netns): an exit status and a message.
  await oneLineUserError(checkIpvsSupport(fakeExec([proc, [/^ipset/, { code: 1, stderr: 'exec of "ipset" failed: No such file or directory' }]]), DEFAULT_IPVS_SETTINGS), /^ipset not found: install Debian's ipset package \(apt-get install ipset\)/);
  await oneLineUserError(checkIpvsSupport(fakeExec([proc, [/^ipset --version/, { code: 0, stdout: 'ipset v5.4, protocol version: 5' }]]), DEFAULT_IPVS_SETTINGS), /ipset 5\.4 is older than 6\.0/);
});

test('the scheduler is tried with a throw-away virtual server unless one already uses it; a refused one names --ipvs-scheduler', async () => {
  const base: [RegExp, Answer][] = [[/^cat \/proc\/net\/ip_vs/, { code: 0 }], [/^ipset --version/, { code: 0, stdout: 'ipset v7.17, protocol version: 7' }]];
  const inUse = fakeExec([...base, [/^ipvsadm -Sn/, { code: 0, stdout: '-A -t 10.96.0.1:443 -s rr\n' }]]);
  await checkIpvsSupport(inUse, DEFAULT_IPVS_SETTINGS);
  assert.ok(!inUse.calls.some((c) => c.startsWith('ipvsadm -R')));
  let added = false;
  const probe = (async (cmd: string, args: string[], o?: { input?: string | Buffer }) => {
    if (cmd === 'ipvsadm' && args[0] === '-R') {
      if (String(o?.input).startsWith('-A -t 198.51.100.0:20000 -s rr')) added = true;
      if (String(o?.input).startsWith('-D -t 198.51.100.0:20000')) added = false;
      return { code: 0, stdout: '', stderr: '' };
    }
    if (cmd === 'ipvsadm' && args[0] === '-Sn') return { code: 0, stdout: added ? '-A -t 198.51.100.0:20000 -s rr\n' : '', stderr: '' };
    return fakeExec(base)(cmd, args);
  }) as Exec;
  await checkIpvsSupport(probe, DEFAULT_IPVS_SETTINGS);
  assert.equal(added, false, 'the probe is deleted again');
  const refusing = fakeExec([...base, [/^ipvsadm -R/, { code: 2, stderr: 'Scheduler not found: ip_vs_bogus.ko' }]]);
  await oneLineUserError(checkIpvsSupport(refusing, { ...DEFAULT_IPVS_SETTINGS, scheduler: 'bogus' }), /the kernel refused scheduler "bogus" \(--ipvs-scheduler; is ip_vs_bogus available\?\): .*Scheduler not found/);
});

test('ipvsadm -R fails when ipvsadm reports an error even though it goes on and exits 0', async () => {
  const adm = newIpvsadm(fakeExec([[/^ipvsadm -R/, { code: 0, stderr: 'Service already exists\n' }]]));
  await assert.rejects(adm.restore(['-A -t 10.96.0.10:80 -s rr']), /Service already exists/);
});

interface Recorder {
  steps: string[];
  failRestore: boolean;
}

function tools(rec: Recorder) {
  const bound = new Set<string>();
  const iptables: Iptables = {
    backend: 'nft',
    hasRandomFully: true,
    async ensureChain() { return true; },
    async chainExists() { return true; },
    async deleteChain() {},
    async ensureRule() { return true; },
    async deleteRule() {},
    async save() { return ''; },
    async restoreAll(data) {
      if (data.includes('-I ')) return void rec.steps.push('iptables jump rules');
      if (rec.failRestore) throw new RestoreError('iptables-restore exited 1: line 3 failed', 3);
      rec.steps.push('iptables rules');
    },
  };
  const ipset: Ipset = {
    async save() { return ''; },
    async restore(text) { rec.steps.push(`ipset restore (${text.split('\n').filter((l) => l.startsWith('create')).length} sets)`); },
    async names() { return []; },
    async destroy() {},
    async version() { return '7.17'; },
  };
  const links: IpLinks = {
    async deviceType() { return bound.size || rec.steps.includes('create kube-ipvs0') ? 'dummy' : null; },
    async createDummy() { rec.steps.push('create kube-ipvs0'); },
    async deleteDevice() {},
    async addresses() { return new Map([['eth0', [NODE_IP]], ['kube-ipvs0', [...bound]]]); },
    async batch(text) {
      for (const l of text.split('\n').filter(Boolean)) {
        const [, verb, addr] = l.split(' ');
        if (verb === 'add') bound.add(addr!.split('/')[0]!);
        else bound.delete(addr!.split('/')[0]!);
        rec.steps.push(`ip ${verb} ${addr}`);
      }
    },
  };
  const ipvs = memoryIpvsadm();
  const ipvsadm = { ...ipvs, restore: async (lines: string[]) => { rec.steps.push(...lines.map((l) => `ipvsadm ${l}`)); await ipvs.restore(lines); } };
  return { iptables, ipset, links, ipvsadm };
}

test('a sync: jump rules, kube-ipvs0, virtual servers and addresses, ipsets, then the iptables rules; stale things go after', async () => {
  const rec: Recorder = { steps: [], failRestore: false };
  const p = new IpvsProxier({ settings: settings(), ipvs: DEFAULT_IPVS_SETTINGS, node: null, ...tools(rec), exec: fakeExec([]), syncPeriodMs: 30_000, minSyncPeriodMs: 0, log: () => {} });
  p.onServiceUpdate(null, service('a', 'web', '10.96.0.10'));
  p.onEndpointSliceUpdate(slice('a', 'web', [['10.244.1.5', 'node-b']]), false);
  assert.equal(await p.onServicesSynced(), true, 'not initialized yet: nothing to do');
  assert.deepEqual(rec.steps, []);
  assert.equal(await p.onEndpointSlicesSynced(), true);
  assert.deepEqual(rec.steps, [
    'iptables jump rules',
    'create kube-ipvs0',
    'ipvsadm -A -t 10.96.0.10:80 -s rr',
    'ipvsadm -a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1',
    'ip add 10.96.0.10/32',
    'ipset restore (17 sets)',
    'iptables rules',
  ]);
  rec.steps.length = 0;
  p.onServiceUpdate(service('a', 'web', '10.96.0.10'), null);
  p.onServiceUpdate(null, service('a', 'api', '10.96.0.11'));
  assert.equal(await p.syncProxyRules(), true);
  assert.deepEqual(rec.steps, ['iptables jump rules', 'ipvsadm -A -t 10.96.0.11:80 -s rr', 'ip add 10.96.0.11/32', 'ipset restore (17 sets)', 'iptables rules', 'ip del 10.96.0.10/32', 'ipvsadm -D -t 10.96.0.10:80']);
});

test('a failed iptables-restore: the sync fails, is counted, and health stops being updated (unhealthy after the timeout)', async () => {
  const rec: Recorder = { steps: [], failRestore: true };
  let now = 1_000_000;
  const health = new ProxyHealth(60_000, () => now);
  const metrics = newMetrics();
  const logs: string[] = [];
  const p = new IpvsProxier({ settings: settings(), ipvs: DEFAULT_IPVS_SETTINGS, node: { metadata: { name: NODE } }, ...tools(rec), exec: fakeExec([]), metrics, health, syncPeriodMs: 30_000, minSyncPeriodMs: 0, log: (l) => logs.push(l) });
  health.updated('IPv4');
  p.onServiceUpdate(null, service('a', 'web', '10.96.0.10'));
  await p.onServicesSynced();
  health.queuedUpdate('IPv4');
  assert.equal(await p.onEndpointSlicesSynced(), false);
  assert.match(logs.join('\n'), /failed to execute iptables-restore: iptables-restore exited 1: line 3 failed/);
  assert.equal((await metrics.restoreFailures.get()).values[0]?.value, 1);
  now += 61_000;
  assert.equal(health.health().healthy, false);
  rec.failRestore = false;
  assert.equal(await p.syncProxyRules(), true);
  assert.equal(health.health().healthy, true);
});
