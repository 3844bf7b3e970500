import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { UserError } from '../errors.ts';
import { run, RunError } from '../exec.ts';
import { imageExists, importRootfs, pullImage } from '../docker.ts';
import { cacheDir, contentKey } from './cache.ts';
import { requireTools } from './tools.ts';
import { versions } from './versions.ts';

export type ImageSource = 'online' | 'offline';

/** The Debian base every svclab image starts from. */
export function debianBaseRef(source: ImageSource): string {
  return source === 'online' ? versions.upstreamDebianImage : `svclab/debian:${versions.debianSuite}-${contentKey(versions.debianSuite, 'minbase')}`;
}

/**
 * Online: pulls debian:bookworm-slim. Offline: makes a minbase root filesystem with
 * debootstrap from the Debian mirror and imports it as an image.
 */
export async function ensureDebianBase(docker: Docker, source: ImageSource, onLine?: (l: string) => void): Promise<string> {
  const ref = debianBaseRef(source);
  if (await imageExists(docker, ref)) return ref;
  if (source === 'online') {
    await pullImage(docker, ref, onLine);
    return ref;
  }
  await requireTools({ debootstrap: 'debootstrap', tar: 'tar' }, 'building the Debian base image offline');
  const dir = await mkdtemp(join(tmpdir(), 'svclab-rootfs-'));
  try {
    const mirror = process.env.SVCLAB_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
    // debootstrap refuses a --cache-dir that does not exist yet (a new machine).
    await mkdir(cacheDir('debs'), { recursive: true });
    await run('debootstrap', ['--variant=minbase', `--cache-dir=${cacheDir('debs')}`, versions.debianSuite, join(dir, 'root'), mirror], { onLine }).catch((err: unknown) => {
      if (!(err instanceof RunError)) throw err;
      throw new UserError(`debootstrap could not make the Debian ${versions.debianSuite} root filesystem from ${mirror} (exit ${err.exitCode ?? 'signal'}): check that the mirror is reachable or set SVCLAB_DEBIAN_MIRROR to one that is, then run 'svclab images build -v' to see its output`);
    });
    // The image must not remember the build machine's resolver or hostname.
    await rm(join(dir, 'root/etc/resolv.conf'), { force: true });
    await run('find', [join(dir, 'root/var/cache/apt/archives'), '-name', '*.deb', '-delete']);
    const tar = spawn('tar', ['-C', join(dir, 'root'), '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await importRootfs(docker, tar.stdout, ref, ['CMD ["bash"]']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return ref;
}
