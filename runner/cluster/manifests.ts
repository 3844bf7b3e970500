import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { componentsDir } from '../images/components.ts';

export type ManifestVars = Record<string, string>;

/** Substitutes ${NAME} placeholders; an unknown placeholder is an error, not an empty string. */
export function renderTemplate(text: string, vars: ManifestVars, source: string): string {
  return text.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_m, key: string) => {
    const v = vars[key];
    if (v === undefined) throw new Error(`${source}: unknown placeholder \${${key}}`);
    return v;
  });
}

export function parseManifest(text: string, source: string): KubernetesObject[] {
  const out: KubernetesObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`${source}: ${doc.errors[0]!.message.split('\n')[0]}`);
    const v = doc.toJS() as KubernetesObject | null;
    if (v) out.push(v);
  }
  return out;
}

export async function componentManifest(name: string, vars: ManifestVars): Promise<KubernetesObject[] | undefined> {
  const path = join(componentsDir, name, 'manifest.yaml');
  if (!existsSync(path)) return undefined;
  return parseManifest(renderTemplate(await readFile(path, 'utf8'), vars, path), path);
}

/** Server-side apply of each object, as `kubectl apply --server-side --force-conflicts` would. */
export async function applyObjects(kc: KubeConfig, objects: KubernetesObject[], fieldManager = 'svclab'): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const obj of objects) {
    await api.patch(obj, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply);
  }
}
