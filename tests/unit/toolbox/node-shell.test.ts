// The toolbox's node-shell script picks the node to open a shell on; here it runs with a
// stand-in kubectl on PATH that only lists nodes, and NODE_SHELL_DRY_RUN=1 stops it after
// the choice (the shell itself is exercised in tests/e2e/lesson-terminal.test.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const script = new URL('../../../components/toolbox/node-shell', import.meta.url).pathname;
const bin = mkdtempSync(join(tmpdir(), 'svclab-node-shell-'));
writeFileSync(join(bin, 'kubectl'), '#!/bin/bash\n[[ "$1 $2" == "get nodes" ]] && { printf "%s\\n" $NODES; exit 0; }\nexit 7\n');
chmodSync(join(bin, 'kubectl'), 0o755);

function nodeShell(nodes: string[], ...args: string[]) {
  const r = spawnSync('bash', [script, ...args], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, NODES: nodes.join(' '), NODE_SHELL_DRY_RUN: '1' } });
  return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
}

const three = ['class-a-control-plane', 'class-a-worker', 'class-a-worker2'];

test('without a name: the first worker, or the only node of a one-node cluster', () => {
  assert.deepEqual(nodeShell(three), { status: 0, out: 'class-a-worker', err: '' });
  assert.equal(nodeShell(['solo-control-plane']).out, 'solo-control-plane');
});

test('a node by its full name or by the part after the cluster name', () => {
  assert.equal(nodeShell(three, 'class-a-worker2').out, 'class-a-worker2');
  assert.equal(nodeShell(three, 'worker2').out, 'class-a-worker2');
  assert.equal(nodeShell(three, 'worker').out, 'class-a-worker');
  assert.equal(nodeShell(three, 'control-plane').out, 'class-a-control-plane');
});

test('an unknown node is one line naming the nodes there are; --help shows the usage', () => {
  assert.deepEqual(nodeShell(three, 'worker9'), { status: 1, out: '', err: 'node-shell: no node named "worker9": the nodes are class-a-control-plane class-a-worker class-a-worker2' });
  assert.deepEqual(nodeShell(['solo-control-plane'], 'worker'), { status: 1, out: '', err: 'node-shell: no node named "worker": the nodes are solo-control-plane' });
  const help = nodeShell(three, '--help');
  assert.equal(help.status, 2);
  assert.match(help.err, /^usage: node-shell \[NODE\]/);
});
