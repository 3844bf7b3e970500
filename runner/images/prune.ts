import type Docker from 'dockerode';
import { knownClusters, readRecord } from '../cluster/state.ts';

/** How old an unused image must be before a prune removes it. */
export const PRUNE_GRACE_MS = 60 * 60 * 1000;

/**
 * Removes svclab's own images that nothing uses any more: content-addressed tags left by
 * earlier builds, except those in `keep`, those a svclab cluster was created from, and those
 * built in the last hour.
 * Returns the removed references.
 */
export async function pruneImages(docker: Docker, keep: string[], now = Date.now()): Promise<string[]> {
  const inUse = new Set(keep);
  for (const name of await knownClusters()) {
    const rec = await readRecord(name);
    if (!rec) continue;
    inUse.add(rec.nodeImage);
    for (const ref of Object.values(rec.components)) inUse.add(ref);
  }
  const removed: string[] = [];
  for (const img of await docker.listImages()) {
    // Another svclab (a classroom server, a second checkout) may have just built it for a
    // cluster it is about to create: young images are left for a later prune.
    if (now - img.Created * 1000 < PRUNE_GRACE_MS) continue;
    for (const ref of img.RepoTags ?? []) {
      if (!ref.startsWith('svclab/') || inUse.has(ref)) continue;
      // Only content-addressed tags are svclab's to remove; never a tag a user made.
      if (!/:(v\d+\.\d+\.\d+-)?[0-9a-f]{12}$/.test(ref) && !ref.startsWith('svclab/debian:')) continue;
      try {
        await docker.getImage(ref).remove({ noprune: false });
        removed.push(ref);
      } catch {
        // still used by a container: keep it
      }
    }
  }
  return removed;
}
