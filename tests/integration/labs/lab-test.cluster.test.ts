// `svclab lab test` for every lab in labs/: on the real lab cluster, each check fails
// before the solution and passes after it. This is what proves the curriculum solvable.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LabCluster } from '../../../runner/grade/cluster.ts';
import { labTestTable, testLab } from '../../../runner/grade/lab-test.ts';
import { withClusterLock } from '../../../runner/grade/lock.ts';
import { listLabIds, loadLab } from '../../../runner/lab/load.ts';
import { configuredProxyMode, switchProxyMode } from '../../../runner/cluster/proxy-mode.ts';
import { TEST_CLUSTER, testCluster } from '../../support/test-cluster.ts';

const ids = await listLabIds();

describe('every lab is solvable and its graders are honest', { concurrency: false }, () => {
  test('there is a lab for every lesson topic', () => {
    for (const id of ['clusterip', 'manual-endpoints', 'iptables-chains', 'nodeport', 'loadbalancer', 'headless-dns', 'externalname', 'env-discovery', 'affinity-local', 'proxy-modes']) {
      assert.ok(ids.includes(id), `labs/${id} is missing`);
    }
  });
  for (const id of ids) {
    test(`lab test ${id}`, { timeout: 15 * 60_000 }, async () => {
      await testCluster();
      const cases = await withClusterLock(TEST_CLUSTER, async () => {
        const cluster = await LabCluster.open(TEST_CLUSTER);
        try {
          return await testLab(cluster, await loadLab(id));
        } finally {
          // The modes lab ends in iptables mode when it passes; the tests after it need that either way.
          if ((await configuredProxyMode(cluster.kc)) !== 'iptables') await switchProxyMode(cluster.kc, 'iptables', 180_000);
        }
      });
      const failed = cases.filter((c) => !c.ok);
      assert.equal(failed.length, 0, `\n${labTestTable(failed)}`);
      assert.ok(cases.some((c) => c.phase === 'before') && cases.some((c) => c.phase === 'after'), 'both phases ran');
    });
  }
});
