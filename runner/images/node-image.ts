import { copyFile, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { run } from '../exec.ts';
import { buildImage, execIn, imageExists, imageLabels, pullImage, saveImages } from '../docker.ts';
import { contentKey, hashTree, repoRoot } from './cache.ts';
import { debianBaseRef, type ImageSource } from './debian-base.ts';
import { ensureGoTarget, goBinary } from './go-binaries.ts';
import { requireTools } from './tools.ts';
import { controlPlaneImages, versions } from './versions.ts';
import { LEAN_STATIC_POD_PATCHES, LEAN_STATIC_POD_PATCHES_DIR } from '../core/cluster/kind-config.ts';

const nodeDir = join(repoRoot, 'runner/images/node');

/** The content key of the offline node image: versions and every file it is built from. */
export async function nodeImageKey(): Promise<string> {
  return contentKey(JSON.stringify(versions), await hashTree(nodeDir), debianBaseRef('offline'));
}

export async function nodeImageRef(source: ImageSource): Promise<string> {
  return source === 'online' ? versions.upstreamNodeImage : `svclab/node:${versions.kubernetes}-${await nodeImageKey()}`;
}

export interface NodeImageOptions {
  source: ImageSource;
  onLine?: (l: string) => void;
  step: <T>(msg: string, fn: () => Promise<T>) => Promise<T>;
}

/**
 * Online: pulls kindest/node. Offline: builds a kind node image with nothing pulled —
 * Kubernetes, etcd and crictl from the Go module proxy, pause from C, a Debian
 * systemd/containerd base, and the control-plane images imported into its containerd.
 */
export async function ensureNodeImage(docker: Docker, opts: NodeImageOptions): Promise<string> {
  const ref = await nodeImageRef(opts.source);
  if (await imageExists(docker, ref)) return ref;
  if (opts.source === 'online') {
    await opts.step(`Pulling ${ref}`, () => pullImage(docker, ref, opts.onLine));
    return ref;
  }
  await requireTools({ gcc: 'gcc', strip: 'binutils' }, 'building the pause binary');
  const k8s = await opts.step(`Building Kubernetes ${versions.kubernetes} from the Go module proxy (cached after the first time)`, () => ensureGoTarget('kubernetes', opts.onLine));
  await opts.step(`Building etcd ${versions.etcd}`, () => ensureGoTarget('etcd', opts.onLine));
  const crictl = await opts.step(`Building crictl ${versions.crictl}`, () => ensureGoTarget('crictl', opts.onLine));

  const work = await mkdtemp(join(tmpdir(), 'svclab-node-'));
  try {
    const cpRefs = controlPlaneImages();
    await opts.step('Building control-plane images (apiserver, controller-manager, scheduler, etcd, pause)', async () => {
      await buildPause(join(work, 'pause'));
      const bins: Record<keyof typeof cpRefs, string> = {
        'kube-apiserver': join(k8s, 'kube-apiserver'),
        'kube-controller-manager': join(k8s, 'kube-controller-manager'),
        'kube-scheduler': join(k8s, 'kube-scheduler'),
        etcd: goBinary('etcd'),
        pause: join(work, 'pause', 'pause'),
      };
      for (const [name, tag] of Object.entries(cpRefs) as [keyof typeof cpRefs, string][]) {
        await buildScratchImage(docker, join(work, `img-${name}`), bins[name], tag, name === 'pause' ? ['/pause'] : undefined);
      }
      await saveImages(docker, Object.values(cpRefs), join(work, 'images.tar'));
    });

    const baseTag = `svclab/node-base:${versions.kubernetes}-${await nodeImageKey()}`;
    await opts.step('Building the node base image (Debian bookworm, systemd, containerd)', async () => {
      const ctx = join(work, 'base');
      await mkdir(join(ctx, 'bin'), { recursive: true });
      await cp(join(nodeDir, 'files'), join(ctx, 'files'), { recursive: true });
      await copyFile(join(nodeDir, 'Dockerfile'), join(ctx, 'Dockerfile'));
      for (const b of ['kubeadm', 'kubelet', 'kubectl']) await copyFile(join(k8s, b), join(ctx, 'bin', b));
      await copyFile(join(crictl, 'crictl'), join(ctx, 'bin', 'crictl'));
      await buildImage(docker, ctx, {
        tag: baseTag,
        buildargs: { DEBIAN_IMAGE: debianBaseRef('offline'), KUBERNETES_VERSION: versions.kubernetes },
        onLine: opts.onLine,
      });
    });

    await opts.step(`Assembling the node image ${ref}`, () => assembleNode(docker, baseTag, join(work, 'images.tar'), ref));
    await docker.getImage(baseTag).remove().catch(() => {});
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return ref;
}

async function buildPause(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await run('gcc', ['-Os', '-static', '-o', join(dir, 'pause'), join(nodeDir, 'pause.c')]);
  await run('strip', [join(dir, 'pause')]);
}

/** A FROM scratch image holding one static binary, the way the upstream images are laid out. */
async function buildScratchImage(docker: Docker, ctx: string, binary: string, tag: string, entrypoint?: string[]): Promise<void> {
  await mkdir(join(ctx, 'rootfs/usr/local/bin'), { recursive: true });
  await mkdir(join(ctx, 'rootfs/etc'), { recursive: true });
  await mkdir(join(ctx, 'rootfs/tmp'), { recursive: true, mode: 0o1777 });
  const name = binary.split('/').pop()!;
  const dest = entrypoint ? join(ctx, 'rootfs', name) : join(ctx, 'rootfs/usr/local/bin', name);
  await copyFile(binary, dest);
  await writeFile(join(ctx, 'rootfs/etc/passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n');
  await writeFile(join(ctx, 'rootfs/etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  const ep = JSON.stringify(entrypoint ?? [`/usr/local/bin/${name}`]);
  await writeFile(join(ctx, 'Dockerfile'), `FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/bin:/usr/bin:/bin\nENTRYPOINT ${ep}\n`);
  await run('chmod', ['1777', join(ctx, 'rootfs/tmp')]);
  await buildImage(docker, ctx, { tag });
}

/**
 * A node image with svclab's component images already in its containerd, so that a new
 * cluster needs no `kind load` (each node's /var starts as a copy of the image's).
 */
export async function ensureLabNodeImage(docker: Docker, nodeImage: string, componentRefs: string[]): Promise<string> {
  const nodeId = (await docker.getImage(nodeImage).inspect()).Id;
  const patches = Object.entries(LEAN_STATIC_POD_PATCHES).sort(([a], [b]) => a.localeCompare(b));
  const ref = `svclab/lab-node:${versions.kubernetes}-${contentKey(nodeId, ...[...componentRefs].sort(), ...patches.flat())}`;
  if (await imageExists(docker, ref)) return ref;
  const work = await mkdtemp(join(tmpdir(), 'svclab-lab-node-'));
  try {
    await saveImages(docker, componentRefs, join(work, 'images.tar'));
    await mkdir(join(work, 'patches'));
    for (const [file, text] of patches) await writeFile(join(work, 'patches', file), text);
    await assembleNode(docker, nodeImage, join(work, 'images.tar'), ref, join(work, 'patches'));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return ref;
}

/** kind's own method: start containerd in a build container, import the images, commit. */
async function assembleNode(docker: Docker, baseTag: string, imagesTar: string, ref: string, patchesDir?: string): Promise<void> {
  const container = await docker.createContainer({
    Image: baseTag,
    Entrypoint: ['sleep'],
    Cmd: ['infinity'],
    HostConfig: { Privileged: true, SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined'] },
  });
  try {
    await container.start();
    const id = container.id;
    await execIn(docker, id, ['mkdir', '-p', '/kind']);
    await run('docker', ['cp', imagesTar, `${id}:/kind/images.tar`]);
    if (patchesDir) await run('docker', ['cp', patchesDir, `${id}:${LEAN_STATIC_POD_PATCHES_DIR}`]);
    await execIn(docker, id, [
      'bash',
      '-ec',
      [
        '(containerd >/tmp/containerd.log 2>&1 &)',
        'for i in $(seq 1 60); do ctr version >/dev/null 2>&1 && break; sleep 0.5; done',
        'ctr -n k8s.io images import --no-unpack /kind/images.tar',
        'ctr -n k8s.io images ls -q',
        'rm -f /kind/images.tar',
        'pkill containerd; for i in $(seq 1 40); do pgrep containerd >/dev/null || break; sleep 0.25; done',
        'rm -rf /run/containerd /tmp/*',
      ].join('\n'),
    ]);
    await container.stop({ t: 1 }).catch(() => {});
    const [repo, tag] = [ref.slice(0, ref.lastIndexOf(':')), ref.slice(ref.lastIndexOf(':') + 1)];
    await container.commit({
      repo,
      tag,
      changes: ['ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]', 'CMD []'],
    } as object);
  } finally {
    await container.remove({ force: true, v: true }).catch(() => {});
  }
  const labels = await imageLabels(docker, ref);
  if (!labels) throw new Error(`node image ${ref} was not created`);
}
