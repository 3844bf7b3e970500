import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePodMode } from '../../../runner/core/dns/backend.ts';
import { repoRoot, svclab } from '../../support/cli.ts';
import { objects } from './fixtures.ts';

test('pod records modes are CoreDNS\'s `pods` values; anything else is one line naming them', () => {
  for (const [given, want] of [
    ['insecure', 'insecure'],
    ['verified', 'verified'],
    ['disabled', 'disabled'],
    [' verified\n', 'verified'],
    ['Insecure', { error: 'invalid DNS_PODS "Insecure": use one of insecure, verified, disabled (CoreDNS\'s `pods` option)' }],
    ['', { error: 'invalid DNS_PODS "": use one of insecure, verified, disabled (CoreDNS\'s `pods` option)' }],
    ['secure', { error: 'invalid DNS_PODS "secure": use one of insecure, verified, disabled (CoreDNS\'s `pods` option)' }],
  ] as const) {
    assert.deepEqual(parsePodMode(given, 'DNS_PODS'), want, JSON.stringify(given));
  }
});

test('svclab dns takes --pods through the same parsing: the mode changes the answer, a bad one is refused in one line', async () => {
  const state = join(await mkdtemp(join(tmpdir(), 'svclab-pods-')), 'state.json');
  await writeFile(state, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  const name = '10-244-1-5.testns.pod.cluster.local';
  assert.match((await svclab(['dns', 'explain', name, '--state', state])).stdout, /Result: +NOERROR\n;; ANSWER\n10-244-1-5\.testns\.pod\.cluster\.local\.\t30\tIN\tA\t10\.244\.1\.5/);
  assert.match((await svclab(['dns', 'explain', name, '--state', state, '--pods', 'disabled'])).stdout, /Result: +NXDOMAIN — pod records are disabled/);
  const bad = await svclab(['dns', 'explain', name, '--state', state, '--pods', 'bogus']);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr, 'svclab: invalid --pods "bogus": use one of insecure, verified, disabled (CoreDNS\'s `pods` option)\n');
});

test('the in-cluster server reads DNS_PODS; a bad value exits at once with one line naming the allowed values', async () => {
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'components/dns/main.ts')], { cwd: repoRoot, env: { ...process.env, DNS_PODS: 'verifed', KUBECONFIG: '/nonexistent/kubeconfig' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'svclab-dns: invalid DNS_PODS "verifed": use one of insecure, verified, disabled (CoreDNS\'s `pods` option)\n');
  assert.equal(r.stdout, '');
});
