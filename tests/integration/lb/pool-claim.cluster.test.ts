// `svclab cluster up` gives each cluster on one Docker engine its own LoadBalancer address
// block of the shared kind network (real `docker network inspect kind`; the state folder is
// a temporary one, so no real cluster is touched).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Docker from 'dockerode';
import { parsePool, parseSubnet, poolBlocks, poolInSubnet, formatPool, type Pool } from '../../../runner/core/lb/pool.ts';
import { removeClusterState, writeRecord, type ClusterRecord } from '../../../runner/cluster/state.ts';
import { claimLBPool, kindSubnet } from '../../../runner/lb/pool-claim.ts';

let dir = '';
const saved = process.env.SVCLAB_STATE_DIR;
const docker = new Docker();
const record = (name: string, dockerHost?: string): ClusterRecord => ({ name, workers: 2, podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/16', nodeImage: 'x', imageSource: 'offline', components: {}, createdAt: new Date().toISOString(), ...(dockerHost ? { dockerHost } : {}) });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'svclab-lbpool-'));
  process.env.SVCLAB_STATE_DIR = dir;
});
after(async () => {
  if (saved === undefined) delete process.env.SVCLAB_STATE_DIR;
  else process.env.SVCLAB_STATE_DIR = saved;
  await rm(dir, { recursive: true, force: true });
});

test('clusters sharing the kind network get different blocks at its top; a cluster keeps its block; a deleted one frees it', async () => {
  const subnet = parseSubnet(await kindSubnet(docker))!;
  const blocks = poolBlocks(subnet).map(formatPool);
  for (const n of ['a', 'b', 'c']) await writeRecord(record(n));
  await writeRecord(record('remote', 'tcp://10.0.0.9:2375'));
  const a = await claimLBPool(docker, 'a');
  const b = await claimLBPool(docker, 'b');
  assert.equal(a, blocks[0]);
  assert.equal(b, blocks[1]);
  assert.ok(poolInSubnet(parsePool(a) as Pool, subnet));
  assert.equal(await claimLBPool(docker, 'a'), a, 'cluster up again: the same block');
  // A cluster on another engine is on another kind network: it may use the first block too.
  assert.equal(await claimLBPool(docker, 'remote'), blocks[0]);
  await removeClusterState('a');
  assert.equal(await claimLBPool(docker, 'c'), blocks[0], 'the block of a deleted cluster is free again');
  // Claims made at the same time do not collide.
  for (const n of ['d', 'e', 'f', 'g']) await writeRecord(record(n));
  const many = await Promise.all(['d', 'e', 'f', 'g'].map((n) => claimLBPool(docker, n)));
  assert.equal(new Set([...many, b, blocks[0]]).size, 6);
});
