// Classroom mode through its API, with real learner clusters: joining, the grid,
// authorization, shadowing with consented take-over, messages and the gradebook.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { deleteCluster } from '../../../runner/cluster/delete.ts';
import { dockerClient } from '../../../runner/docker.ts';
import { enginesFrom } from '../../../runner/server/classroom/provisioner.ts';
import { startRunner, type Runner } from '../../../runner/server/runner.ts';

const GiB = 2 ** 30;

describe('classroom', { concurrency: false }, () => {
  let runner: Runner;
  let base: string;
  let cls: { class: { id: string; joinCode: string }; instructorToken: string };
  const learners: { name: string; token: string; cluster?: string }[] = [];
  const api = async (path: string, token: string | undefined, init: { method?: string; body?: unknown } = {}) => {
    const res = await fetch(`${base}${path}`, { method: init.method ?? 'GET', headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' }, body: init.body ? JSON.stringify(init.body) : undefined });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    runner = await startRunner({
      cluster: 'svclab-unused',
      port: 0,
      host: '127.0.0.1',
      docker: dockerClient(),
      dataDir: await mkdtemp(join(tmpdir(), 'svclab-class-')),
      classroom: { engines: enginesFrom([]), warm: 0, workers: 0, policy: { perCluster: 0.75 * GiB, reserve: 2 * GiB, maxLearners: 2 } },
      log: () => {},
    });
    base = runner.url.replace(/\/$/, '');
  });
  after(async () => {
    await runner?.close();
    for (const l of learners) if (l.cluster) await deleteCluster(dockerClient(), l.cluster).catch(() => {});
  });

  test('only the admin token creates classes; a class has a join code and an instructor token', async () => {
    assert.equal((await api('/api/classes', undefined, { method: 'POST', body: { title: 'x', labs: ['a'] } })).status, 401);
    const bad = await api('/api/classes', runner.adminToken, { method: 'POST', body: { title: 'T', labs: [], learners: 'Ada\n\nada\n' } });
    assert.equal(bad.status, 400);
    const roster = await api('/api/classes', runner.adminToken, { method: 'POST', body: { title: 'T', labs: ['clusterip'], learners: 'Ada\n# comment\nada\n' } });
    assert.equal(roster.status, 400);
    assert.match(String(roster.body.error), /roster line 3: "ada" is already on line 1/);
    const r = await api('/api/classes', runner.adminToken, { method: 'POST', body: { title: 'Services 101', labs: ['clusterip'] } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    cls = r.body as typeof cls;
    assert.match(cls.class.joinCode, /^[0-9A-F]{6}$/);
  });

  test('two learners join by code; a third is refused with a reason and nothing is made for them', async () => {
    for (const name of ['Ada', 'Grace']) {
      const r = await api('/api/join', undefined, { method: 'POST', body: { code: cls.class.joinCode.toLowerCase(), name } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      learners.push({ name, token: String(r.body.token) });
    }
    assert.equal((await api('/api/join', undefined, { method: 'POST', body: { code: 'NOPE00', name: 'X' } })).status, 404);
    const dup = await api('/api/join', undefined, { method: 'POST', body: { code: cls.class.joinCode, name: 'ada' } });
    assert.equal(dup.status, 409);
    const full = await api('/api/join', undefined, { method: 'POST', body: { code: cls.class.joinCode, name: 'Linus' } });
    assert.equal(full.status, 503);
    assert.match(String(full.body.error), /the class is full \(2 learners\)/);
  });

  test('each learner gets their own cluster, shown in the instructor grid as it comes up', async () => {
    const deadline = Date.now() + 8 * 60_000;
    let grid: { learners: { name: string; cluster: { name: string; state: string } }[] } | undefined;
    while (Date.now() < deadline) {
      grid = (await api('/api/class', cls.instructorToken)).body as typeof grid;
      if (grid!.learners.every((l) => l.cluster.state === 'running')) break;
      assert.ok(!grid!.learners.some((l) => l.cluster.state === 'broken'), JSON.stringify(grid));
      await new Promise((r) => setTimeout(r, 3000));
    }
    assert.deepEqual(grid!.learners.map((l) => l.cluster.state), ['running', 'running']);
    const clusters = grid!.learners.map((l) => l.cluster.name);
    assert.equal(new Set(clusters).size, 2);
    assert.ok(clusters.every((c) => c.startsWith(`${cls.class.id}-`)), 'named after the class');
    learners.forEach((l, i) => (l.cluster = clusters[i]));
  });

  test('a learner token reaches only that learner; instructor routes refuse it', async () => {
    const [ada] = learners;
    assert.equal((await api('/api/class', ada!.token)).status, 403);
    assert.equal((await api('/api/classes', ada!.token)).status, 403);
    assert.equal((await api('/api/class/export?format=csv', ada!.token)).status, 403);
    assert.equal((await api('/api/class', 'forged')).status, 401);
    const s = await api('/api/session', ada!.token);
    assert.equal(s.body.name, 'Ada');
    assert.equal(s.body.cluster, learners[0]!.cluster);
  });

  test('shadowing is read-only until the learner accepts a take-over', async () => {
    const [ada] = learners;
    const grid = (await api('/api/class', cls.instructorToken)).body as { learners: { id: string; name: string }[] };
    const adaId = grid.learners.find((l) => l.name === 'Ada')!.id;
    const wsBase = base.replace('http:', 'ws:');
    const collect = (ws: WebSocket) => {
      let text = '';
      const msgs: { type: string; [k: string]: unknown }[] = [];
      ws.on('message', (d, bin) => (bin ? (text += d.toString()) : msgs.push(JSON.parse(d.toString()))));
      return { text: () => text, msgs };
    };
    const until = async (cond: () => boolean, what: string) => {
      for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(cond(), what);
    };
    const events = new WebSocket(`${wsBase}/api/events?token=${ada!.token}`);
    const ev = collect(events);
    const learnerTab = new WebSocket(`${wsBase}/api/terminal?token=${ada!.token}`);
    const lt = collect(learnerTab);
    await until(() => lt.msgs.some((m) => m.type === 'ready'), 'learner shell ready');
    learnerTab.send(JSON.stringify({ type: 'resize', cols: 77, rows: 21 }));
    learnerTab.send(JSON.stringify({ type: 'input', data: 'echo learner-$((40+2))\r' }));
    await until(() => lt.text().includes('learner-42'), 'learner sees their output');
    const shadow = new WebSocket(`${wsBase}/api/class/shadow?learner=${adaId}&token=${cls.instructorToken}`);
    const sh = collect(shadow);
    await until(() => sh.text().includes('learner-42'), 'the instructor sees the learner\'s screen');
    assert.deepEqual(sh.msgs.find((m) => m.type === 'size'), { type: 'size', cols: 77, rows: 21 }, 'the watch view draws at the learner\'s size');
    learnerTab.send(JSON.stringify({ type: 'resize', cols: 90, rows: 30 }));
    await until(() => sh.msgs.some((m) => m.type === 'size' && m.cols === 90 && m.rows === 30), 'and follows the learner\'s resizes');
    assert.ok(!lt.msgs.some((m) => m.type === 'size'), 'the learner\'s own tab resizes itself and is not told');
    await until(() => ev.msgs.some((m) => m.type === 'watching' && m.count === 1), 'the learner is told the instructor is watching');
    shadow.send(JSON.stringify({ type: 'input', data: 'echo instructor-$((1+1))\r' }));
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(!lt.text().includes('instructor-2'), 'typing is refused before the learner accepts');
    assert.equal((await api(`/api/class/learners/${adaId}/takeover`, cls.instructorToken, { method: 'POST' })).body.takeover, 'requested');
    await until(() => ev.msgs.some((m) => m.type === 'takeover' && m.state === 'requested'), 'the learner is asked');
    assert.equal((await api('/api/takeover', ada!.token, { method: 'POST', body: { accept: true } })).body.takeover, 'granted');
    shadow.send(JSON.stringify({ type: 'input', data: 'echo instructor-$((1+1))\r' }));
    await until(() => lt.text().includes('instructor-2'), 'after consent the instructor types in the learner\'s shell');
    shadow.close();
    learnerTab.close();
    events.close();
  });

  test('messages reach one learner or everyone; the gradebook has a row per learner', async () => {
    const r = await api('/api/class/message', cls.instructorToken, { method: 'POST', body: { text: 'Break in 5 minutes' } });
    assert.equal(r.body.sent, 2);
    const csv = (await api('/api/class/export?format=csv', cls.instructorToken)).body.body as string;
    const rows = csv.trim().split('\r\n');
    assert.equal(rows.length, 3);
    assert.match(rows[1]!, /^Ada,/);
    assert.match(rows[2]!, /^Grace,/);
    const junit = (await api('/api/class/export?format=junit', cls.instructorToken)).body.body as string;
    assert.match(junit, /<testsuite name="Ada"/);
  });
});
