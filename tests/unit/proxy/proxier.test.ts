// The sync loop's failure handling, with an in-memory iptables that applies restore input
// like `iptables-restore --noflush` (declared chains are replaced, -X deletes) and can be
// told to refuse it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDump } from '../../../runner/core/proxy/iptables-dump.ts';
import { ProxyHealth } from '../../../runner/proxy/health.ts';
import { RestoreError, type Iptables, type Table } from '../../../runner/proxy/iptables.ts';
import { Proxier } from '../../../runner/proxy/proxier.ts';
import { noWarn, service, settings, slice } from './fixtures.ts';

class FakeIptables implements Iptables {
  readonly backend = 'nft' as const;
  readonly hasRandomFully = true;
  tables = new Map<string, Map<string, string[]>>([['filter', new Map()], ['nat', new Map()], ['mangle', new Map()]]);
  restores: string[] = [];
  failNext = 0;

  async ensureChain(table: Table, chain: string) {
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
    const rules = this.tables.get(table)!.get(chain) ?? [];
    const line = args.join(' ');
    if (rules.includes(line)) return true;
    this.tables.get(table)!.set(chain, [line, ...rules]);
    return false;
  }
  async deleteRule() {}
  async save(table?: Table) {
    return [...this.tables.get(table ?? 'nat')!.keys()].map((c) => `:${c} - [0:0]`).join('\n');
  }
  async restoreAll(data: string) {
    this.restores.push(data);
    if (this.failNext > 0) {
      this.failNext--;
      throw new RestoreError('iptables-restore: line 3 failed', 3);
    }
    for (const t of parseDump(data).tables) {
      const tab = this.tables.get(t.name)!;
      for (const c of t.chains) {
        // A declared chain is flushed first, so a deleted one may have had rules.
        if (c.deleted) tab.delete(c.name);
        else tab.set(c.name, c.rules.map((r) => r.args.join(' ')));
      }
    }
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
  assert.equal(ipt.restores.length, 1);
  assert.ok(ipt.tables.get('nat')!.get('PREROUTING')!.some((r) => r.endsWith('-j KUBE-SERVICES')), 'jump rules ensured on the full sync');
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
