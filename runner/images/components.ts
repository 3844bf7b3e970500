import { existsSync } from 'node:fs';
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { build } from 'esbuild';
import { buildImage, imageExists } from '../docker.ts';
import { run } from '../exec.ts';
import { cacheDir, contentKey, hashTree, repoRoot } from './cache.ts';

export const componentsDir = join(repoRoot, 'components');

/** Every folder under components/ with a Dockerfile is an in-cluster component. */
export async function listComponents(): Promise<string[]> {
  const names = await readdir(componentsDir);
  return names.filter((n) => existsSync(join(componentsDir, n, 'Dockerfile'))).sort();
}

/** Bundles one entry point (and everything it imports) into one ESM file for Node 18, as the component images run it. */
export async function bundleEntry(entry: string, outfile: string): Promise<string> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node18',
    format: 'esm',
    minify: false,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'error',
    // Optional native add-ons of ws and friends: pure-JS fallbacks are used without them.
    external: ['bufferutil', 'utf-8-validate', 'cpu-features', 'ssh2'],
    banner: { js: "import { createRequire as __svclabCreateRequire } from 'node:module'; const require = __svclabCreateRequire(import.meta.url);" },
  });
  return outfile;
}

/** Bundles components/<name>/main.ts into dist/components/<name>.js. */
export async function bundleComponent(name: string): Promise<string | undefined> {
  const entry = join(componentsDir, name, 'main.ts');
  if (!existsSync(entry)) return undefined;
  return bundleEntry(entry, join(repoRoot, 'dist/components', `${name}.js`));
}

/** Files a component's image needs besides its own folder and bundle. */
export type ExtraFiles = Record<string, string>;

export interface ComponentBuild {
  name: string;
  runtimeRef: string;
  extraFiles?: ExtraFiles;
  onLine?: (l: string) => void;
}

/** Builds svclab/<name>:<content key> from the component folder, its bundle and extra files. */
export async function ensureComponentImage(docker: Docker, c: ComponentBuild): Promise<string> {
  const bundle = await bundleComponent(c.name);
  const parts = [c.runtimeRef, await hashTree(join(componentsDir, c.name))];
  if (bundle) parts.push(await readFile(bundle, 'utf8'));
  for (const [dest, src] of Object.entries(c.extraFiles ?? {}).sort()) parts.push(dest, (await readFile(src)).toString('base64'));
  const ref = `svclab/${c.name}:${contentKey(...parts)}`;
  if (await imageExists(docker, ref)) return ref;
  const ctx = await mkdtemp(join(tmpdir(), `svclab-${c.name}-`));
  try {
    await cp(join(componentsDir, c.name), ctx, { recursive: true });
    await rm(join(ctx, 'main.ts'), { force: true });
    await rm(join(ctx, 'manifest.yaml'), { force: true });
    if (bundle) await copyFile(bundle, join(ctx, 'main.js'));
    for (const [dest, src] of Object.entries(c.extraFiles ?? {})) await copyFile(src, join(ctx, dest));
    await buildImage(docker, ctx, { tag: ref, buildargs: { RUNTIME_IMAGE: c.runtimeRef }, labels: { 'svclab.component': c.name }, onLine: c.onLine });
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
  return ref;
}

/** Copies a file out of an image (e.g. kubectl from the node image) into svclab's cache. */
export async function fileFromImage(docker: Docker, image: string, path: string): Promise<string> {
  const dest = join(cacheDir('extracted', image.replace(/[/:]/g, '_')), path.split('/').pop()!);
  if (existsSync(dest)) return dest;
  await mkdir(join(dest, '..'), { recursive: true });
  const container = await docker.createContainer({ Image: image, Entrypoint: ['true'] });
  try {
    await run('docker', ['cp', `${container.id}:${path}`, dest]);
  } finally {
    await container.remove({ force: true, v: true });
  }
  return dest;
}
