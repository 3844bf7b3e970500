import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { UserError } from '../errors.ts';

/** A Kubernetes object as read from a state file: only the envelope is checked here. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/**
 * Reads a "state file": what `kubectl get … -o yaml|json` prints. Accepts a `List`
 * (kind List or any *List), a single object, or several YAML documents, and returns
 * the flat list of objects. Fails with a one-line UserError naming the file.
 */
export async function readStateFile(path: string): Promise<KubeObject[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String((err as Error).message);
    throw new UserError(`cannot read state file ${path}: ${why}`);
  }
  return parseState(text, path);
}

/** Parses the text of a state file (JSON or YAML). `source` names it in errors. */
export function parseState(text: string, source: string): KubeObject[] {
  const docs: unknown[] = [];
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      docs.push(JSON.parse(text));
    } catch (err) {
      throw new UserError(`state file ${source} is not valid JSON: ${(err as Error).message}`);
    }
  } else {
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) {
        const e = doc.errors[0]!;
        const line = e.linePos?.[0]?.line;
        throw new UserError(`state file ${source}${line ? ` line ${line}` : ''} is not valid YAML: ${e.message.split('\n')[0]}`);
      }
      const value = doc.toJS();
      if (value != null) docs.push(value);
    }
  }
  const objects: KubeObject[] = [];
  const visit = (value: unknown, where: string): void => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, `${where}[${i}]`));
      return;
    }
    if (typeof value !== 'object' || value === null) {
      throw new UserError(`state file ${source}: ${where} is not a Kubernetes object`);
    }
    const obj = value as Record<string, unknown>;
    if (typeof obj.kind === 'string' && obj.kind.endsWith('List') && Array.isArray(obj.items)) {
      obj.items.forEach((v, i) => visit(v, `${where}items[${i}]`));
      return;
    }
    if (typeof obj.kind !== 'string' || typeof obj.apiVersion !== 'string') {
      throw new UserError(`state file ${source}: ${where || 'the document'} has no apiVersion/kind; expected a kubectl List or Kubernetes objects`);
    }
    if (typeof obj.metadata !== 'object' || obj.metadata === null) {
      throw new UserError(`state file ${source}: ${obj.kind} ${where} has no metadata`);
    }
    objects.push(obj as KubeObject);
  };
  docs.forEach((d, i) => visit(d, docs.length > 1 ? `document ${i + 1} ` : ''));
  return objects;
}
