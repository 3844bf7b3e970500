import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type Docker from 'dockerode';

process.env.SVCLAB_STATE_DIR = mkdtempSync(join(tmpdir(), 'svclab-prune-state-'));
const { pruneImages, PRUNE_GRACE_MS } = await import('../../../runner/images/prune.ts');

/** An engine's image list and what was removed from it (the only two calls prune makes). */
function engine(images: { tags: string[]; ageMs: number }[], now: number) {
  const removed: string[] = [];
  const docker = {
    listImages: async () => images.map((i) => ({ RepoTags: i.tags, Created: Math.floor((now - i.ageMs) / 1000) })),
    getImage: (ref: string) => ({ remove: async () => void removed.push(ref) }),
  } as unknown as Docker;
  return { docker, removed };
}

test('a prune removes old unused svclab images, but not those just built (another svclab may be about to use them), kept ones, or tags it did not make', async () => {
  const now = Date.now();
  const { docker, removed } = engine(
    [
      { tags: ['svclab/toolbox:0123456789ab'], ageMs: 2 * PRUNE_GRACE_MS },
      { tags: ['svclab/toolbox:ba9876543210'], ageMs: 60_000 },
      { tags: ['svclab/dns:aaaaaaaaaaaa'], ageMs: 2 * PRUNE_GRACE_MS },
      { tags: ['svclab/toolbox:mine'], ageMs: 2 * PRUNE_GRACE_MS },
      { tags: ['debian:bookworm'], ageMs: 2 * PRUNE_GRACE_MS },
    ],
    now,
  );
  assert.deepEqual(await pruneImages(docker, ['svclab/dns:aaaaaaaaaaaa'], now), ['svclab/toolbox:0123456789ab']);
  assert.deepEqual(removed, ['svclab/toolbox:0123456789ab']);
});
