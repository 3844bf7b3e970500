// Loading labs/<id>/lab.yaml: YAML with line numbers, the JSON Schema (labs/lab.schema.json),
// then what a schema cannot say (the id is the folder, task ids are unique, files exist).
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { UserError } from '../errors.ts';
import { repoRoot } from '../images/cache.ts';
import { checkKind, CHECK_KINDS, type Lab, type LoadedLab } from '../core/lab/types.ts';

export const labsDir = process.env.SVCLAB_LABS_DIR ?? join(repoRoot, 'labs');

export interface LabProblem {
  file: string;
  line: number;
  message: string;
}

export class LabInvalidError extends UserError {
  constructor(readonly problems: LabProblem[]) {
    super(problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join('\n'));
  }
}

let validator: ReturnType<Ajv2020['compile']> | undefined;
function validate(): ReturnType<Ajv2020['compile']> {
  if (!validator) {
    const schema = JSON.parse(readFileSync(join(repoRoot, 'labs/lab.schema.json'), 'utf8')) as object;
    validator = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
  }
  return validator;
}

/** The YAML node at a JSON pointer ("/tasks/0/checks/1"), or the deepest one that exists. */
function lineOf(doc: Document, lines: LineCounter, pointer: string): number {
  let node: unknown = doc.contents;
  let line = 1;
  const at = (n: unknown) => {
    const range = (n as { range?: [number, number, number] } | null)?.range;
    if (range) line = lines.linePos(range[0]).line;
  };
  at(node);
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (isMap(node)) {
      const pair = node.items.find((p) => String((p.key as { value?: unknown } | null)?.value ?? p.key) === key);
      if (!pair) break;
      at(pair.key);
      node = pair.value;
      if (node) at(node);
    } else if (isSeq(node)) {
      node = node.items[Number(key)];
      if (node) at(node);
    } else break;
  }
  return line;
}

/** One sentence per schema error, saying what is expected where. */
function describe(e: ErrorObject): string | null {
  const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : 'the lab';
  switch (e.keyword) {
    case 'required':
      return `${where}: missing "${(e.params as { missingProperty: string }).missingProperty}"`;
    case 'additionalProperties': {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      const kinds = /checks\.\d+$/.test(where) ? ` (a check has one of: ${CHECK_KINDS.join(', ')}, and timeout/settle)` : '';
      return `${where}: unknown key "${extra}"${kinds}`;
    }
    case 'oneOf':
      if (/checks\.\d+$/.test(where)) return `${where}: a check needs exactly one of: ${CHECK_KINDS.join(', ')}`;
      return `${where}: ${e.message}`;
    case 'enum':
      return `${where}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'pattern':
      return `${where}: ${JSON.stringify(e.data)} does not match ${(e.params as { pattern: string }).pattern}`;
    case 'if':
      return null;
    default:
      return `${where}: ${e.message}`;
  }
}

/** Reads, schema-checks and cross-checks one lab folder. Throws LabInvalidError listing every problem. */
export async function loadLabDir(dir: string): Promise<LoadedLab> {
  const path = join(dir, 'lab.yaml');
  const file = relative(process.cwd(), path) || path;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new LabInvalidError([{ file, line: 1, message: `cannot read lab.yaml: every labs/<id>/ folder needs one (see labs/README.md)` }]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length) {
    throw new LabInvalidError(doc.errors.map((e) => ({ file, line: lines.linePos(e.pos[0]).line, message: `not valid YAML: ${e.message.split('\n')[0]}` })));
  }
  const value = doc.toJS() as unknown;
  const check = validate();
  const problems: LabProblem[] = [];
  if (!check(value)) {
    const seen = new Set<string>();
    // The most specific errors first; a oneOf failure is noise when a branch error explains it.
    for (const e of check.errors ?? []) {
      if (e.keyword === 'oneOf' && (check.errors ?? []).some((o) => o !== e && o.instancePath.startsWith(e.instancePath) && o.keyword !== 'required' && o.keyword !== 'oneOf')) continue;
      if (e.keyword === 'required' && /\/checks\/\d+$/.test(e.instancePath) && CHECK_KINDS.includes((e.params as { missingProperty: string }).missingProperty as never)) continue;
      const msg = describe(e);
      if (!msg || seen.has(msg)) continue;
      seen.add(msg);
      problems.push({ file, line: lineOf(doc, lines, e.instancePath), message: msg });
    }
    throw new LabInvalidError(problems);
  }
  const lab = value as Lab;
  const folder = dir.replace(/\/$/, '').split('/').pop()!;
  if (lab.id !== folder) problems.push({ file, line: lineOf(doc, lines, '/id'), message: `id "${lab.id}" must be the folder's name "${folder}"` });
  const ids = new Set<string>();
  lab.tasks.forEach((t, i) => {
    if (ids.has(t.id)) problems.push({ file, line: lineOf(doc, lines, `/tasks/${i}/id`), message: `task id "${t.id}" is used twice` });
    ids.add(t.id);
    t.checks.forEach((c, j) => {
      if (checkKind(c) === 'script') {
        const f = (c as { script: { file: string } }).script.file;
        if (!existsSync(join(dir, f))) problems.push({ file, line: lineOf(doc, lines, `/tasks/${i}/checks/${j}/script/file`), message: `script ${f} does not exist in ${folder}/` });
      }
    });
  });
  (lab.setup ?? []).forEach((f, i) => {
    if (!existsSync(join(dir, f))) problems.push({ file, line: lineOf(doc, lines, `/setup/${i}`), message: `setup file ${f} does not exist in ${folder}/` });
  });
  if (lab.solution && !existsSync(join(dir, lab.solution))) problems.push({ file, line: lineOf(doc, lines, '/solution'), message: `solution ${lab.solution} does not exist in ${folder}/` });
  if (problems.length) throw new LabInvalidError(problems);
  return { ...lab, dir, namespace: lab.namespace ?? 'default' };
}

export async function listLabIds(dir = labsDir): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => existsSync(join(dir, n, 'lab.yaml'))).sort();
}

const LAB_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export async function loadLab(id: string, dir = labsDir): Promise<LoadedLab> {
  if (!LAB_ID.test(id)) throw new UserError(`"${id}" is not a lab id: run 'svclab lab list' to see the labs`);
  if (!existsSync(join(dir, id, 'lab.yaml'))) throw new UserError(`no lab "${id}": run 'svclab lab list' to see the labs`);
  return loadLabDir(join(dir, id));
}
