import type Docker from 'dockerode';
import { UserError } from '../errors.ts';
import { imageExists, pullImage } from '../docker.ts';
import type { Status } from '../cli/status.ts';
import { cacheDir } from './cache.ts';
import { ensureComponentImage, fileFromImage, listComponents } from './components.ts';
import { debianBaseRef, ensureDebianBase, type ImageSource } from './debian-base.ts';
import { pruneImages } from './prune.ts';
import { ensureLabNodeImage, ensureNodeImage, nodeImageRef } from './node-image.ts';
import { ensureRuntimeImage } from './runtime-image.ts';
import { requireFreeDisk } from './tools.ts';
import { versions } from './versions.ts';

export type SourceChoice = 'auto' | ImageSource;

export interface ImageSet {
  source: ImageSource;
  /** The node image with every component image preloaded into its containerd. */
  nodeImage: string;
  /** Component name -> image ref. */
  components: Record<string, string>;
}

/**
 * Decides where images come from. `auto` uses images already here (offline ones first,
 * as they are what this machine built), else tries the registry, else builds offline.
 */
export async function resolveSource(docker: Docker, choice: SourceChoice, status: Status): Promise<ImageSource> {
  if (choice !== 'auto') return choice;
  if (await imageExists(docker, await nodeImageRef('offline'))) return 'offline';
  if (await imageExists(docker, await nodeImageRef('online'))) return 'online';
  try {
    await status.step(`Pulling ${versions.upstreamNodeImage}`, () => pullImage(docker, versions.upstreamNodeImage));
    return 'online';
  } catch (err) {
    status.info(`   the registry cannot be reached (${(err as Error).message.split('\n')[0]}): building every image locally (offline mode)`);
    return 'offline';
  }
}

export interface EnsureOptions {
  source: ImageSource;
  status: Status;
  onLine?: (l: string) => void;
}

/** Builds (or reuses) every image a svclab cluster needs. */
export async function ensureImages(docker: Docker, opts: EnsureOptions): Promise<ImageSet> {
  const { status, source, onLine } = opts;
  const step = <T>(msg: string, fn: () => Promise<T>) => status.step(msg, fn);
  if (source === 'offline' && !(await imageExists(docker, await nodeImageRef('offline')))) {
    await requireFreeDisk(cacheDir(), 8, 'the offline image build');
  }
  await step(`Preparing the Debian ${versions.debianSuite} base image (${source})`, () => ensureDebianBase(docker, source, onLine));
  const nodeImage = await ensureNodeImage(docker, { source, onLine, step });
  const runtime = await step('Building the svclab runtime image (Debian + Node.js + network tools)', () => ensureRuntimeImage(docker, source, onLine));
  const kubectl = await fileFromImage(docker, nodeImage, '/usr/bin/kubectl');
  const components: Record<string, string> = {};
  for (const name of await listComponents()) {
    const extraFiles = name === 'toolbox' ? { kubectl } : undefined;
    components[name] = await step(`Building component image ${name}`, () => ensureComponentImage(docker, { name, runtimeRef: runtime, extraFiles, onLine }));
  }
  const labNode = await step('Preloading the component images into the node image', () => ensureLabNodeImage(docker, nodeImage, Object.values(components)));
  const removed = await pruneImages(docker, [labNode, nodeImage, runtime, debianBaseRef(source), ...Object.values(components)]);
  if (removed.length) status.info(`   removed ${removed.length} image${removed.length === 1 ? '' : 's'} left over from earlier builds`);
  return { source, nodeImage: labNode, components };
}

export function requireComponent(set: ImageSet, name: string): string {
  const ref = set.components[name];
  if (!ref) throw new UserError(`no image for component ${name}: is components/${name}/Dockerfile missing?`);
  return ref;
}
