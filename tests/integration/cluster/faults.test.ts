// `svclab cluster up` when something is wrong, through the CLI as a user runs it: kind
// missing, no registry and no local images (the fallback to offline images), a failed
// image build, too little disk, and a cluster that never becomes ready. Each must end with
// a clear last line, a non-zero exit, and nothing half-made left behind (unless --retain).
// The image cases run against a second, empty Docker engine, so that the first engine's
// cached images are not used and not touched.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findKind } from '../../../runner/cluster/kind.ts';
import { kubeconfigPath, readRecord } from '../../../runner/cluster/state.ts';
import { run } from '../../../runner/exec.ts';
import { svclab, type CliResult } from '../../support/cli.ts';
import { kindLeftovers } from '../../support/cluster.ts';
import { SECOND_DOCKER_HOST, secondDockerUnavailable, startSecondDocker, type SecondDocker } from '../../support/second-docker.ts';

const NAME = 'svclab-fault';
const unavailable = await secondDockerUnavailable();
const lastLine = (r: CliResult) => r.stderr.trim().split('\n').at(-1) ?? '';

async function rootfsLeftovers(): Promise<string[]> {
  return (await readdir(tmpdir())).filter((n) => n.startsWith('svclab-rootfs-'));
}

describe('svclab cluster up when something is wrong', { concurrency: false }, () => {
  let binDir: string;
  let emptyCache: string;

  before(async () => {
    await svclab(['cluster', 'down', '--name', NAME]);
    // kind on PATH (the build svclab made), and a cache with nothing in it.
    binDir = await mkdtemp(join(tmpdir(), 'svclab-bin-'));
    await symlink(await findKind(), join(binDir, 'kind'));
    emptyCache = await mkdtemp(join(tmpdir(), 'svclab-cache-'));
  });
  after(async () => {
    await svclab(['cluster', 'down', '--name', NAME]);
    await rm(binDir, { recursive: true, force: true });
    await rm(emptyCache, { recursive: true, force: true });
  });

  test('no kind and no Go to build it: one line naming the version to install, nothing created', async () => {
    const r = await svclab(['cluster', 'up', '--name', NAME], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', SVCLAB_CACHE_DIR: emptyCache } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^svclab: kind is not installed: install kind v\S+ \(https:\/\/kind\.sigs\.k8s\.io\/\S+\), or Go so that svclab can build it$/m);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.deepEqual(await kindLeftovers(NAME), []);
    assert.equal(await readRecord(NAME), undefined);
  });

  test('a cluster that does not become ready in --wait is deleted, with a line saying so; --retain keeps it', async () => {
    const failed = await svclab(['cluster', 'up', '--name', NAME, '--workers', '0', '--wait', '1s']);
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, new RegExp(`Deleting the failed cluster "${NAME}" \\(use --retain to keep it for debugging\\)`));
    assert.match(lastLine(failed), /not .*after 1s|within 1s|timed out/i, failed.stderr);
    assert.deepEqual(await kindLeftovers(NAME), [], 'no container or kind cluster is left');
    assert.equal(existsSync(kubeconfigPath(NAME)), false, 'no kubeconfig is left');
    assert.equal(await readRecord(NAME), undefined, 'no svclab state is left');

    const retained = await svclab(['cluster', 'up', '--name', NAME, '--workers', '0', '--wait', '1s', '--retain']);
    assert.equal(retained.code, 1, retained.stderr);
    assert.doesNotMatch(retained.stderr, /Deleting the failed cluster/);
    assert.notDeepEqual(await kindLeftovers(NAME), [], 'the node is kept for debugging');
    assert.ok(existsSync(kubeconfigPath(NAME)), 'and its kubeconfig');
    const down = await svclab(['cluster', 'down', '--name', NAME]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await kindLeftovers(NAME), []);
  });

  describe('on an engine with no images and no registry', { concurrency: false }, () => {
    let d2: SecondDocker;
    const env = (extra: NodeJS.ProcessEnv = {}) => ({ DOCKER_HOST: SECOND_DOCKER_HOST, PATH: `${binDir}:${process.env.PATH}`, ...extra });
    const nothingLeft = async () => {
      assert.deepEqual((await d2.docker.listContainers({ all: true })).map((c) => c.Names), [], 'no container');
      assert.deepEqual((await d2.docker.listImages()).map((i) => i.RepoTags), [], 'no image');
      assert.ok(!(await d2.docker.listNetworks()).some((n) => n.Name === 'kind'), 'no kind network');
      assert.equal(await readRecord(NAME), undefined, 'no svclab state');
      assert.deepEqual(await rootfsLeftovers(), [], 'no half-built root filesystem');
    };

    before(async () => {
      if (!unavailable) d2 = await startSecondDocker();
    });
    after(async () => {
      await d2?.stop();
    });

    test('too little disk for the offline build: says the registry cannot be reached, falls back to offline, and stops before building', { skip: unavailable }, async (t) => {
      const small = await mkdtemp(join(tmpdir(), 'svclab-small-'));
      await run('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'svclab-small', small]);
      t.after(async () => {
        await run('umount', [small], { allowFailure: true });
        await rm(small, { recursive: true, force: true });
      });
      const r = await svclab(['cluster', 'up', '--name', NAME], { env: env({ SVCLAB_CACHE_DIR: small }) });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /the registry cannot be reached \(.+\): building every image locally \(offline mode\)/);
      assert.match(lastLine(r), new RegExp(`^svclab: the offline image build needs about 8 GiB free in ${small}, but only 0\\.\\d GiB is free: free some disk space`));
      await nothingLeft();
    });

    test('a failed image build (the Debian mirror is unreachable): one line naming what failed, nothing half-made', { skip: unavailable }, async () => {
      const r = await svclab(['cluster', 'up', '--name', NAME, '--source', 'offline'], { env: env({ SVCLAB_CACHE_DIR: emptyCache, SVCLAB_DEBIAN_MIRROR: 'http://127.0.0.1:9/debian' }) });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /✗ Preparing the Debian bookworm base image \(offline\)/);
      assert.match(lastLine(r), /^svclab: debootstrap could not make the Debian bookworm root filesystem from http:\/\/127.0.0.1:9\/debian \(exit \d+\): check that the mirror is reachable or set SVCLAB_DEBIAN_MIRROR to one that is/, r.stderr);
      await nothingLeft();
    });
  });
});
