// The runner's terminal gateway against the real lab cluster: a learner's shell in the
// toolbox pod, shared by tabs, surviving reconnects, and robust to bad clients.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { dockerClient } from '../../../runner/docker.ts';
import { startRunner, type Runner } from '../../../runner/server/runner.ts';
import { TEST_CLUSTER, testCluster } from '../../support/test-cluster.ts';

interface Tab {
  ws: WebSocket;
  text: () => string;
  messages: { type: string; [k: string]: unknown }[];
  waitFor: (pred: () => boolean, what: string, ms?: number) => Promise<void>;
  send: (m: unknown) => void;
  closed: Promise<number>;
}

function openTab(url: string, opts: { ack?: boolean } = {}): Promise<Tab> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let out = Buffer.alloc(0);
    let received = 0;
    const messages: Tab['messages'] = [];
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        const b = data as Buffer;
        received += b.length;
        out = Buffer.concat([out, b]).subarray(-200_000);
        if (opts.ack !== false && received >= 16_384) {
          ws.send(JSON.stringify({ type: 'ack', bytes: received }));
          received = 0;
        }
      } else messages.push(JSON.parse(data.toString()));
    });
    ws.on('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.on('error', reject);
    ws.on('open', () =>
      resolve({
        ws,
        messages,
        closed,
        text: () => out.toString('utf8'),
        send: (m) => ws.send(typeof m === 'string' ? m : JSON.stringify(m)),
        waitFor: async (pred, what, ms = 20_000) => {
          const deadline = Date.now() + ms;
          while (!pred()) {
            if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; screen ends with: ${JSON.stringify(out.toString('utf8').slice(-300))}`);
            await new Promise((r) => setTimeout(r, 100));
          }
        },
      }),
    );
  });
}

describe('terminal gateway', { concurrency: false }, () => {
  let runner: Runner;
  let base: string;
  let wsBase: string;

  before(async () => {
    await testCluster();
    const dataDir = await mkdtemp(join(tmpdir(), 'svclab-runner-'));
    runner = await startRunner({ cluster: TEST_CLUSTER, port: 0, host: '127.0.0.1', docker: dockerClient(), dataDir, log: () => {} });
    base = runner.url.replace(/\/$/, '');
    wsBase = base.replace('http:', 'ws:');
  });
  after(() => runner?.close());

  test('no token or a forged token gets 401 and no shell', async () => {
    assert.equal((await fetch(`${base}/api/session`)).status, 401);
    assert.equal((await fetch(`${base}/api/session`, { headers: { authorization: 'Bearer forged' } })).status, 401);
    await assert.rejects(openTab(`${wsBase}/api/terminal`), /HTTP 401/);
    await assert.rejects(openTab(`${wsBase}/api/terminal?token=forged`), /HTTP 401/);
    const ok = await fetch(`${base}/api/session`, { headers: { authorization: `Bearer ${runner.token}` } });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { cluster: string }).cluster, TEST_CLUSTER);
  });

  test('the shell runs kubectl against the lab cluster', async () => {
    const tab = await openTab(`${wsBase}/api/terminal?token=${runner.token}`);
    await tab.waitFor(() => tab.messages.some((m) => m.type === 'ready'), 'ready');
    tab.send({ type: 'input', data: 'kubectl get nodes --no-headers -o custom-columns=N:.metadata.name\r' });
    await tab.waitFor(() => tab.text().includes(`${TEST_CLUSTER}-worker2`), 'the node names', 30_000);
    assert.match(tab.text(), new RegExp(`${TEST_CLUSTER}-control-plane`));
    tab.ws.close();
  });

  test('tabs share one shell, and a reconnecting tab gets the screen back', async () => {
    const a = await openTab(`${wsBase}/api/terminal?token=${runner.token}`);
    a.send({ type: 'input', data: 'echo "shell pid=$$ mark-$((6*7))"\r' });
    await a.waitFor(() => /shell pid=\d+ mark-42/.test(a.text()), 'the echo in tab A');
    const pid = /shell pid=(\d+) mark-42/.exec(a.text())![1];
    const b = await openTab(`${wsBase}/api/terminal?token=${runner.token}`);
    await b.waitFor(() => b.text().includes(`shell pid=${pid} mark-42`), 'the replayed screen in tab B');
    b.send({ type: 'input', data: 'echo from-b-$((2*21))\r' });
    await a.waitFor(() => a.text().includes('from-b-42'), 'tab B\'s input echoed in tab A');
    a.ws.close();
    b.ws.close();
    await a.closed;
    await b.closed;
    const c = await openTab(`${wsBase}/api/terminal?token=${runner.token}`);
    await c.waitFor(() => c.text().includes('from-b-42'), 'the screen restored after reconnecting');
    c.send({ type: 'input', data: 'echo "again pid=$$"\r' });
    await c.waitFor(() => /again pid=\d+/.test(c.text()), 'the pid');
    assert.equal(/again pid=(\d+)/.exec(c.text())![1], pid, 'the same shell process, not a new one');
    c.ws.close();
  });

  test('malformed messages are refused without dropping the connection; oversized ones close it cleanly', async () => {
    const tab = await openTab(`${wsBase}/api/terminal?token=${runner.token}`);
    tab.send('this is not json');
    tab.send({ type: 'resize', cols: -1, rows: 1e9 });
    await tab.waitFor(() => tab.messages.filter((m) => m.type === 'error').length >= 2, 'two error replies');
    tab.send({ type: 'ping' });
    await tab.waitFor(() => tab.messages.some((m) => m.type === 'pong'), 'pong after malformed input');
    tab.send({ type: 'input', data: 'x'.repeat(200_000) });
    assert.equal(await tab.closed, 1009);
    assert.equal((await fetch(`${base}/api/health`)).status, 200, 'the runner is still serving');
  });

  test('a flood of output skips a slow tab ahead instead of queueing it all', async () => {
    const slow = await openTab(`${wsBase}/api/terminal?token=${runner.token}`, { ack: false });
    await slow.waitFor(() => slow.messages.some((m) => m.type === 'ready'), 'ready');
    let got = 0;
    slow.ws.on('message', (d, bin) => bin && (got += (d as Buffer).length));
    slow.send({ type: 'input', data: 'yes svclab-flood | head -c 30000000; echo flood-done\r' });
    await new Promise((r) => setTimeout(r, 8000));
    assert.ok(got < 3 * 1024 * 1024, `a tab that never acknowledges gets at most about the high-water mark, got ${got} bytes`);
    slow.send({ type: 'ack', bytes: got + 1e9 });
    await slow.waitFor(() => slow.messages.some((m) => m.type === 'skipped'), 'a skipped notice once it catches up', 30_000);
    // What was skipped is the middle, not the end: the flood's last line reaches the screen.
    const acking = setInterval(() => slow.send({ type: 'ack', bytes: 1e9 }), 200);
    try {
      await slow.waitFor(() => slow.text().includes('flood-done'), 'the end of the flood on the screen', 60_000);
    } finally {
      clearInterval(acking);
    }
    slow.send({ type: 'input', data: '\x03echo after-flood\r' });
    slow.send({ type: 'ack', bytes: 1e9 });
    await slow.waitFor(() => slow.text().includes('after-flood'), 'the shell still answers', 60_000);
    slow.ws.close();
  });
});
