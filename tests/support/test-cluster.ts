// Tests named *.cluster.test.ts run against one shared lab cluster that scripts/test.mjs
// brings up before them (and deletes after, unless SVCLAB_KEEP_TEST_CLUSTER=1).
import { readRecord, type ClusterRecord } from '../../runner/cluster/state.ts';

export const TEST_CLUSTER = process.env.SVCLAB_TEST_CLUSTER ?? 'svclab-test';

/** The shared test cluster's record; fails the test with a clear reason if it is not up. */
export async function testCluster(): Promise<ClusterRecord> {
  const rec = await readRecord(TEST_CLUSTER);
  if (!rec) throw new Error(`the shared test cluster "${TEST_CLUSTER}" is not up: run the suite with 'node scripts/test.mjs integration', or 'svclab cluster up --name ${TEST_CLUSTER}' first`);
  return rec;
}
