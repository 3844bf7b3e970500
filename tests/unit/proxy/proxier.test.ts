// The sync loop's failure handling, with an in-memory iptables that applies restore input
// like `iptables-restore --noflush` (declared chains are flushed or created, -A appends,
// -I prepends, -X deletes), prints itself like iptables-save, and can be told to refuse input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitWords } from '../../../runner/core/proxy/iptables-dump.ts';
import { ProxyHealth } from '../../../runner/proxy/health.ts';
import { RestoreError, type Iptables, type Table } from '../../../runner/proxy/iptables.ts';
import { Proxier } from '../../../runner/proxy/proxier.ts';
import { noWarn, service, settings, slice } from './fixtures.ts';

const BUILTIN: Record<string, string[]> = { filter: ['INPUT', 'FORWARD', 'OUTPUT'], nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'], mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'] };

class FakeIptables implements Iptables {
  readonly backend = 'nft' as const;
  readonly hasRandomFully = true;
  /** table → chain → rules as iptables-save prints them (after "-A CHAIN "). */
  tables = new Map<string, Map<string, string[]>>(Object.entries(BUILTIN).map(([t, chains]) => [t, new Map(chains.map((c) => [c, []]))]));
  restores: string[] = [];
  commands: string[] = [];
  failNext = 0;

  async ensureChain(table: Table, chain: string) {
    this.commands.push(`-N ${chain}`);
    const t = this.tables.get(table)!;
    if (t.has(chain)) return true;
    t.set(chain, []);
    return false;
  }
  async chainExists(table: Table, chain: string) {
    return this.tables.get(table)!.has(chain);
  }
  async deleteChain(table: Table, chain: string) {
    this.tables.get(table)!.delete(chain);
  }
  async ensureRule(_p: '-I' | '-A', table: Table, chain: string, args: string[]) {
    this.commands.push(`-C ${chain}`);
    const rules = this.tables.get(table)!.get(chain) ?? [];
    const line = args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ');
    if (rules.includes(line)) return true;
    this.tables.get(table)!.set(chain, [line, ...rules]);
    return false;
  }
  async deleteRule() {}
  saves = 0;
  async save(table?: Table) {
    this.saves++;
    let out = '';
    for (const [name, chains] of this.tables) {
      if (table && name !== table) continue;
      out += `*${name}\n`;
      for (const c of chains.keys()) out += `:${c} ${BUILTIN[name]!.includes(c) ? 'ACCEPT' : '-'} [0:0]\n`;
      for (const [c, rules] of chains) for (const r of rules) out += `-A ${c} ${r}\n`;
      out += 'COMMIT\n';
    }
    return out;
  }
  async restoreAll(data: string) {
    this.restores.push(data);
    if (this.failNext > 0) {
      this.failNext--;
      throw new RestoreError('iptables-restore: line 3 failed', 3);
    }
    const next = new Map([...this.tables].map(([t, chains]) => [t, new Map([...chains].map(([c, r]) => [c, [...r]]))]));
    let table: Map<string, string[]> | undefined;
    for (const line of data.split('\n')) {
      const words = splitWords(line);
      if (line.startsWith('*')) table = next.get(line.slice(1));
      else if (line.startsWith(':')) table!.set(line.slice(1).split(' ')[0]!, []);
      else if (words[0] === '-A' || words[0] === '-I') {
        const rules = table!.get(words[1]!);
        if (!rules) throw new RestoreError(`iptables-restore: chain ${words[1]} does not exist`, null);
        const rule = line.slice(line.indexOf(words[1]!) + words[1]!.length + 1);
        if (words[0] === '-A') rules.push(rule);
        else rules.unshift(rule);
      } else if (words[0] === '-X') table!.delete(words[1]!);
    }
    this.tables = next;
  }
}

function setup(syncPeriodMs = 60_000) {
  const ipt = new FakeIptables();
  let now = 0;
  const health = new ProxyHealth(2 * syncPeriodMs, () => now);
  const results: { ok: boolean; full: boolean }[] = [];
  const p = new Proxier({
    settings: settings(),
    node: null,
    iptables: ipt,
    exec: async () => ({ code: 0, stdout: '', stderr: '' }),
    nfacct: null,
    health,
    syncPeriodMs,
    minSyncPeriodMs: 0,
    log: noWarn,
    onSynced: ({ ok, full }) => results.push({ ok, full }),
  });
  return { ipt, p, health, results, tick: (ms: number) => (now += ms) };
}

test('nothing is written until both Services and EndpointSlices are synced', async () => {
  const { ipt, p } = setup();
  p.onServiceUpdate(null, service('a', 'web', '10.96.0.1'));
  await p.onServicesSynced();
  assert.equal(ipt.restores.length, 0);
  await p.onEndpointSlicesSynced();
  assert.equal(ipt.restores.length, 2, 'the missing jump rules, then the rules');
  assert.ok(ipt.tables.get('nat')!.get('PREROUTING')!.some((r) => r.endsWith('-j KUBE-SERVICES')), 'jump rules ensured on the full sync');
});

test('jump rules: one save and one restore on the first full sync, nothing added on the next, no iptables commands', async () => {
  const { ipt, p } = setup();
  // kubelet's chain and jump are already there, with a rule kube-proxy must not flush.
  ipt.tables.get('filter')!.set('KUBE-FIREWALL', ['-m comment --comment "kubelet rule" -j DROP']);
  ipt.tables.get('filter')!.get('INPUT')!.push('-j KUBE-FIREWALL');
  p.onServiceUpdate(null, service('a', 'web', '10.96.0.1'));
  await p.onServicesSynced();
  await p.onEndpointSlicesSynced();
  assert.deepEqual(ipt.commands, []);
  assert.equal(ipt.restores.length, 2, 'the jump rules, then the rules');
  const jumps = ipt.restores[0]!;
  assert.ok(!jumps.includes(':KUBE-FIREWALL'), 'an existing chain is not declared (that would flush it)');
  assert.ok(!jumps.includes('-I INPUT -j KUBE-FIREWALL'), 'an existing rule is not added again');
  assert.ok(jumps.includes('-I OUTPUT -j KUBE-FIREWALL'));
  assert.deepEqual(ipt.tables.get('filter')!.get('INPUT'), [
    '-m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
    '-m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-j KUBE-FIREWALL',
  ], 'prepended in upstream\'s order, after kubelet\'s');
  await p.forceSync();
  assert.equal(ipt.restores.length, 3, 'nothing missing: no jump restore');
  assert.equal(ipt.tables.get('filter')!.get('INPUT')!.length, 4);
  assert.deepEqual(ipt.tables.get('nat')!.get('PREROUTING'), ['-m comment --comment "kubernetes service portals" -j KUBE-SERVICES']);
});

test('jump rules: a deleted jump is put back on the next full sync', async () => {
  const { ipt, p } = setup();
  await p.onServicesSynced();
  await p.onEndpointSlicesSynced();
  ipt.tables.get('nat')!.set('POSTROUTING', []);
  await p.forceSync();
  assert.match(ipt.restores.at(-2)!, /^\*nat\n-I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING\nCOMMIT\n$/);
  assert.equal(ipt.tables.get('nat')!.get('POSTROUTING')!.length, 1);
});

test('a refused restore keeps the previous rules, counts as failed, and the retry is a full sync', async () => {
  const { ipt, p, results } = setup();
  p.onServiceUpdate(null, service('a', 'web', '10.96.0.1'));
  p.onEndpointSliceUpdate(slice('a', 'web', [['10.244.1.1', 'node-b']]), false);
  await p.onServicesSynced();
  await p.onEndpointSlicesSynced();
  const before = JSON.stringify([...ipt.tables.get('nat')!]);

  p.onEndpointSliceUpdate(slice('a', 'web', [['10.244.1.2', 'node-b']]), false);
  ipt.failNext = 1;
  assert.equal(await p.syncProxyRules(), false);
  assert.deepEqual(results.at(-1), { ok: false, full: false });
  assert.equal(JSON.stringify([...ipt.tables.get('nat')!]), before, 'the kernel still has the previous rules');

  assert.equal(await p.syncProxyRules(), true);
  assert.deepEqual(results.at(-1), { ok: true, full: true });
  const nat = [...ipt.tables.get('nat')!.values()].flat().join('\n');
  assert.ok(nat.includes('--to-destination 10.244.1.2:8080') && !nat.includes('--to-destination 10.244.1.1:8080'));
});

test('a partial sync writes only the changed service; its old endpoint chain is deleted', async () => {
  const { ipt, p } = setup();
  p.onServiceUpdate(null, service('a', 'one', '10.96.0.1'));
  p.onServiceUpdate(null, service('a', 'two', '10.96.0.2'));
  p.onEndpointSliceUpdate(slice('a', 'one', [['10.244.1.1', 'node-b']]), false);
  p.onEndpointSliceUpdate(slice('a', 'two', [['10.244.1.2', 'node-b']]), false);
  await p.onServicesSynced();
  await p.onEndpointSlicesSynced();
  const oldSep = [...ipt.tables.get('nat')!.entries()].find(([, rules]) => rules.some((r) => r.includes('--to-destination 10.244.1.2:8080')))![0];
  p.onEndpointSliceUpdate(slice('a', 'two', [['10.244.1.3', 'node-b']]), false);
  await p.syncProxyRules();
  const partial = ipt.restores.at(-1)!;
  assert.ok(!partial.includes('a/one:http ->'), 'service one is not rewritten');
  assert.ok(partial.includes(`-X ${oldSep}`));
  assert.ok(!ipt.tables.get('nat')!.has(oldSep));
  assert.ok([...ipt.tables.get('nat')!.values()].flat().some((r) => r.includes('10.244.1.1:8080')), 'service one still works');
});

test('health turns unhealthy when an update stays queued for 2 × syncPeriod', async () => {
  const { ipt, p, health, tick } = setup(30_000);
  await p.onServicesSynced();
  await p.onEndpointSlicesSynced();
  health.updated('IPv4');
  assert.equal(health.health().healthy, true);
  ipt.failNext = 100;
  p.onServiceUpdate(null, service('a', 'web', '10.96.0.1'));
  health.queuedUpdate('IPv4'); // what Sync() does when a change arrives
  await p.syncProxyRules();
  tick(59_000);
  assert.equal(health.health().healthy, true);
  tick(1_000);
  assert.equal(health.health().healthy, false);
  ipt.failNext = 0;
  await p.syncProxyRules();
  assert.equal(health.health().healthy, true);
});

const seps = (ipt: FakeIptables) => [...ipt.tables.get('nat')!.keys()].filter((c) => c.startsWith('KUBE-SEP-'));

test('partial syncs between cleanups skip iptables-save and still delete the chains they leave behind', async () => {
  const { ipt, p } = setup();
  p.onServiceUpdate(null, service('a', 'web', '10.96.0.1'));
  p.onEndpointSliceUpdate(slice('a', 'web', [['10.244.1.1', 'node-b'], ['10.244.1.2', 'node-b']]), false);
  await p.onServicesSynced();
  await p.onEndpointSlicesSynced();
  assert.equal(seps(ipt).length, 2);
  const saves = ipt.saves;
  p.onEndpointSliceUpdate(slice('a', 'web', [['10.244.1.1', 'node-b']]), false);
  await p.syncProxyRules();
  assert.equal(ipt.saves, saves, 'no iptables-save on a partial sync');
  assert.equal(seps(ipt).length, 1, 'the removed endpoint\'s chain is deleted');
  p.onServiceUpdate(service('a', 'web', '10.96.0.1'), null);
  await p.syncProxyRules();
  assert.equal(ipt.saves, saves);
  assert.deepEqual(seps(ipt), [], 'a deleted Service\'s chains are deleted');
});

test('a stale chain someone else left is deleted at the next cleanup, a sync period later', async () => {
  const { ipt, p } = setup(40);
  p.onServiceUpdate(null, service('a', 'web', '10.96.0.1'));
  await p.onServicesSynced();
  await p.onEndpointSlicesSynced();
  ipt.tables.get('nat')!.set('KUBE-SEP-LEFTBYOTHERS1', ['-j DNAT --to-destination 10.244.9.9:80']);
  p.onEndpointSliceUpdate(slice('a', 'web', [['10.244.1.1', 'node-b']]), false);
  await p.syncProxyRules();
  assert.ok(ipt.tables.get('nat')!.has('KUBE-SEP-LEFTBYOTHERS1'), 'not known yet: kept until the cleanup');
  await new Promise((r) => setTimeout(r, 60));
  p.onEndpointSliceUpdate(slice('a', 'web', [['10.244.1.2', 'node-b']]), false);
  await p.syncProxyRules();
  assert.ok(!ipt.tables.get('nat')!.has('KUBE-SEP-LEFTBYOTHERS1'), 'the cleanup read iptables-save and deleted it');
});
