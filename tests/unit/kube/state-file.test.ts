import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseState, readStateFile } from '../../../runner/kube/state-file.ts';

test('a kubectl List in YAML or JSON, nested Lists and multi-document YAML all flatten to objects', () => {
  const yaml = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a, namespace: default}
- apiVersion: v1
  kind: ServiceList
  items:
  - apiVersion: v1
    kind: Service
    metadata: {name: b}
---
apiVersion: v1
kind: Namespace
metadata: {name: c}
`;
  assert.deepEqual(parseState(yaml, 'x.yaml').map((o) => o.metadata.name), ['a', 'b', 'c']);
  const json = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' } }] });
  assert.deepEqual(parseState(json, 'x.json').map((o) => o.kind), ['Node']);
});

test('unreadable or malformed state files fail with one line naming the file and the problem', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'svclab-state-'));
  await assert.rejects(readStateFile(join(dir, 'missing.yaml')), /cannot read state file .*missing\.yaml: no such file/);
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'kind: List\nitems: [\n');
  await assert.rejects(readStateFile(bad), /state file .*bad\.yaml( line \d+)? is not valid YAML/);
  await writeFile(bad, '{"kind": ');
  await assert.rejects(readStateFile(bad), /state file .*bad\.yaml is not valid JSON/);
  await writeFile(bad, 'just: a map\n');
  await assert.rejects(readStateFile(bad), /has no apiVersion\/kind/);
});
