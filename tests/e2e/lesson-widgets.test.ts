// The lesson page's other widgets, in Debian's chromium against the real runner and the
// real lab cluster: the packet tracer draws a Service's chain walk on a chosen node with
// the matched rules marked by kind (KUBE-SERVICES → KUBE-SVC → KUBE-SEP → DNAT), and its
// API refuses a bad token and explains bad input; a code block's copy button puts the
// command on the clipboard; the Chinese site's search finds Chinese words; the terminal's
// WebSocket gets keepalive pings from the runner while idle.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DiscoveryV1Api } from '@kubernetes/client-node';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { WebSocket } from 'ws';
import { kubeconfigPath } from '../../runner/cluster/state.ts';
import { dockerClient } from '../../runner/docker.ts';
import { loadKubeConfig } from '../../runner/kube/client.ts';
import { startRunner, type Runner } from '../../runner/server/runner.ts';
import { ensureSite } from '../../runner/server/site.ts';
import { launchBrowser, screenshot } from '../support/browser.ts';
import { TEST_CLUSTER, testCluster } from '../support/test-cluster.ts';

const KEEPALIVE_MS = 500;

describe('the lesson widgets', { concurrency: false }, () => {
  let runner: Runner;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    await testCluster();
    const siteDir = await ensureSite();
    runner = await startRunner({ cluster: TEST_CLUSTER, port: 0, host: '127.0.0.1', siteDir, docker: dockerClient(), dataDir: await mkdtemp(join(tmpdir(), 'svclab-e2e-widgets-')), keepaliveMs: KEEPALIVE_MS, log: () => {} });
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: runner.url.replace(/\/$/, '') });
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await runner?.close();
  });

  test('the packet tracer draws kube-dns\'s chain walk on a chosen node, one branch per endpoint', async () => {
    const slices = await loadKubeConfig(kubeconfigPath(TEST_CLUSTER)).makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: 'kube-system', labelSelector: 'kubernetes.io/service-name=kube-dns' });
    const endpoints = slices.items.flatMap((s) => s.endpoints.filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses)).map((a) => `${a}:53`).sort();
    assert.ok(endpoints.length >= 1, 'kube-dns has ready endpoints');

    await page.goto(`${runner.url}lessons/iptables-chains?token=${runner.token}`);
    const widget = page.locator('.packet-path');
    await widget.scrollIntoViewIfNeeded();
    const nodeSelect = widget.locator('select[name="node"]');
    await nodeSelect.locator('option', { hasText: `${TEST_CLUSTER}-worker2` }).waitFor({ state: 'attached', timeout: 30_000 });
    await nodeSelect.selectOption(`${TEST_CLUSTER}-worker2`);
    const service = widget.locator('select[name="service"]');
    await service.locator('option', { hasText: 'kube-system/kube-dns:dns-tcp' }).waitFor({ state: 'attached', timeout: 30_000 });
    await service.selectOption({ label: 'kube-system/kube-dns:dns-tcp' });
    const dst = await widget.locator('input[name="dst"]').inputValue();
    assert.match(dst, /^10\.96\.\d+\.\d+:53$/, 'picking the Service fills in its cluster IP and port');
    await widget.locator('button[type="submit"]').click();

    const branches = widget.locator('.pp-outcome');
    await branches.first().waitFor({ timeout: 60_000 });
    assert.equal(await branches.count(), endpoints.length, 'one branch per ready endpoint');
    const dnats: string[] = [];
    for (let i = 0; i < endpoints.length; i++) {
      const b = branches.nth(i);
      assert.match(await b.locator('.pp-head').innerText(), new RegExp(`${(100 / endpoints.length).toFixed(endpoints.length === 1 ? 0 : 1)}%`), 'each branch shows its chance');
      const steps = await b.locator('.pp-step').evaluateAll((els) => els.map((e) => ({ cls: e.className, chain: e.querySelector('.pp-chain')!.textContent!, action: e.querySelector('.pp-action')!.textContent! })));
      const at = (re: RegExp) => steps.findIndex((s) => re.test(s.chain));
      const services = at(/^nat\/KUBE-SERVICES #\d+$/);
      const svc = at(/^nat\/KUBE-SVC-[A-Z0-9]{16} #\d+$/);
      const sep = at(/^nat\/KUBE-SEP-[A-Z0-9]{16} #\d+$/);
      assert.ok(services >= 0 && svc > services && sep > svc, `the walk goes KUBE-SERVICES → KUBE-SVC → KUBE-SEP: ${steps.map((s) => s.chain).join(' → ')}`);
      assert.match(steps[services]!.cls, /\bkube\b/);
      assert.match(steps[svc]!.cls, /\bsvc\b/, 'the Service chain is marked as one');
      assert.match(steps[sep]!.cls, /\bsep\b/, 'the endpoint chain is marked as one');
      assert.match(steps[services]!.action, /KUBE-SVC-/, 'KUBE-SERVICES jumps to the Service chain');
      const dnat = steps.filter((s) => /^nat\/KUBE-SEP-/.test(s.chain)).map((s) => /DNAT to (\S+)/.exec(s.action)?.[1]).find(Boolean);
      assert.ok(dnat, `the endpoint chain DNATs: ${JSON.stringify(steps.filter((s) => s.chain.includes('KUBE-SEP')))}`);
      assert.match(await b.locator('.pp-result').innerText(), new RegExp(`ACCEPT · DNAT to ${dnat!.replace(/\./g, '\\.')}`));
      dnats.push(dnat!);
    }
    assert.deepEqual(dnats.sort(), endpoints, 'the branches DNAT to the Service\'s endpoints');
    await screenshot(page, 'lesson-packet-path');
  });

  test('the trace API refuses a bad token and explains bad input', async () => {
    const get = async (query: string, token = runner.token) => {
      const r = await fetch(`${runner.url}api/trace?${query}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: r.status, error: ((await r.json()) as { error?: string }).error ?? '' };
    };
    const good = `node=${TEST_CLUSTER}-worker&src=10.244.1.10&dst=10.96.0.10:53`;
    assert.deepEqual(await get(good, 'forged'), { status: 401, error: 'a valid token is required' });
    assert.equal((await fetch(`${runner.url}api/trace?${good}`)).status, 401, 'no token at all');
    assert.deepEqual(await get(`node=nope&src=10.244.1.10&dst=10.96.0.10:53`), { status: 400, error: 'no node "nope" in the lab cluster' });
    assert.deepEqual(await get(`node=${TEST_CLUSTER}-worker&src=10.244.1.10&dst=web`), { status: 400, error: 'dst "web": expected IP:PORT, e.g. 10.96.0.10:80' });
    assert.deepEqual(await get(`node=${TEST_CLUSTER}-worker&src=pod-a&dst=10.96.0.10:53`), { status: 400, error: 'src "pod-a" is not an IP address' });
    assert.deepEqual(await get(`${good}&proto=icmp`), { status: 400, error: 'proto must be tcp or udp' });
    // And the page shows the runner's reason.
    const widget = page.locator('.packet-path');
    await widget.locator('input[name="dst"]').fill('10.96.0.10');
    await widget.locator('button[type="submit"]').click();
    await widget.locator('.pp-error', { hasText: 'dst "10.96.0.10": expected IP:PORT' }).waitFor();
    assert.equal(await widget.locator('.pp-outcome').count(), 0, 'the old walk is gone');
  });

  test('a code block\'s copy button puts its commands on the clipboard', async () => {
    await page.goto(`${runner.url}lessons/intro`);
    const block = page.locator('.svclab-runnable', { hasText: 'kubectl get nodes' }).first();
    await block.scrollIntoViewIfNeeded();
    await block.hover();
    await block.locator('button.copy').click();
    await block.locator('button.copy.copied').waitFor();
    assert.equal((await page.evaluate('navigator.clipboard.readText()')) as string, 'kubectl get nodes\nnode-shell');
  });

  test('the Chinese site\'s search finds Chinese words', async () => {
    await page.goto(`${runner.url}zh/lessons/intro`);
    const search = async (q: string) => {
      await page.locator('.VPNavBarSearch button').click();
      const input = page.locator('.VPLocalSearchBox input.search-input');
      const results = page.locator('.VPLocalSearchBox .results a.result');
      // The box remembers the last query: empty it first, so that no old result is read.
      await input.fill('');
      await page.waitForFunction(() => document.querySelectorAll('.VPLocalSearchBox .results a.result').length === 0, undefined, { timeout: 15_000 });
      await input.fill(q);
      await results.first().waitFor({ timeout: 15_000 });
      return results.evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''));
    };
    const affinity = await search('会话保持');
    assert.match(affinity[0]!, /^\/zh\/lessons\/affinity-local(\.html)?#?/, `the session-affinity lesson comes first: ${affinity.join(' ')}`);
    assert.ok(affinity.every((h) => h.startsWith('/zh/')), `only Chinese pages: ${affinity.join(' ')}`);
    await screenshot(page, 'lesson-search-zh');
    await page.keyboard.press('Escape');
    const endpoints = await search('端点');
    assert.ok(endpoints.length >= 3 && endpoints.every((h) => h.startsWith('/zh/')), `端点 (endpoint) is on several Chinese pages: ${endpoints.join(' ')}`);
    await page.keyboard.press('Escape');
  });

  test('the terminal socket gets ping frames while idle, and stays open', async () => {
    const ws = new WebSocket(`${runner.url.replace(/^http/, 'ws')}api/terminal?token=${runner.token}`);
    const pings: number[] = [];
    ws.on('ping', () => pings.push(Date.now()));
    const pong = new Promise<void>((resolve) => ws.on('message', (d, binary) => !binary && /"pong"/.test(d.toString()) && resolve()));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ type: 'ping' }));
    await pong;
    await new Promise((r) => setTimeout(r, KEEPALIVE_MS * 6.5));
    assert.equal(ws.readyState, WebSocket.OPEN, 'the idle socket is still open');
    assert.ok(pings.length >= 3 && pings.length <= 7, `${pings.length} pings in ${KEEPALIVE_MS * 6.5} ms`);
    // Timers never fire early; on a loaded machine they may fire late, so the mean is what counts.
    const gaps = pings.slice(1).map((t, i) => t - pings[i]!);
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    assert.ok(gaps.every((g) => g > KEEPALIVE_MS * 0.8) && mean < KEEPALIVE_MS * 1.5, `pings every ${KEEPALIVE_MS} ms: gaps ${gaps.join(', ')}`);
    ws.close();
  });
});
