import { join } from 'node:path';
import type Docker from 'dockerode';
import { buildImage, imageExists } from '../docker.ts';
import { contentKey, hashTree, repoRoot } from './cache.ts';
import { debianBaseRef, type ImageSource } from './debian-base.ts';

const runtimeDir = join(repoRoot, 'runner/images/runtime');

export async function runtimeImageRef(source: ImageSource): Promise<string> {
  return `svclab/runtime:${contentKey(await hashTree(runtimeDir), debianBaseRef(source))}`;
}

/** Builds the Debian + Node.js runtime image every svclab component image starts from. */
export async function ensureRuntimeImage(docker: Docker, source: ImageSource, onLine?: (l: string) => void): Promise<string> {
  const ref = await runtimeImageRef(source);
  if (await imageExists(docker, ref)) return ref;
  await buildImage(docker, runtimeDir, { tag: ref, buildargs: { DEBIAN_IMAGE: debianBaseRef(source) }, onLine });
  return ref;
}
