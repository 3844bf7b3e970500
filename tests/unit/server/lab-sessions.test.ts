import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LabSessions, type LabEngine, type LabInfo, type TaskStatus, type TasksEvent } from '../../../runner/server/labs.ts';
import { Store } from '../../../runner/server/store.ts';

const lab: LabInfo = {
  id: 'lab1',
  title: { en: 'Lab', zh: '实验' },
  tasks: ['namespace', 'deployment'].map((id) => ({ id, title: { en: id, zh: id }, hints: [] })),
};

/** A grading engine whose cluster is a variable: what a check pass sees, and how long it takes. */
function fakeEngine(truth: { states: TaskStatus[]; passMs: number; afterReset: TaskStatus[] }): LabEngine {
  return {
    loadLab: async () => lab,
    listLabs: async () => [lab.id],
    setupLab: async () => {},
    // Like the real reset: the cluster changes at once, the setup takes a while longer.
    resetLab: async () => {
      truth.states = truth.afterReset;
      await new Promise((r) => setTimeout(r, 150));
    },
    setAnswer: async () => {},
    watchLab({ onChange, intervalMs }) {
      let last = '';
      let stopped = false;
      let timer: NodeJS.Timeout | undefined;
      const once = async () => {
        const seen = structuredClone(truth.states);
        await new Promise((r) => setTimeout(r, truth.passMs));
        const key = JSON.stringify(seen);
        if (key !== last && !stopped) {
          last = key;
          onChange(seen);
        }
        return seen;
      };
      const loop = () => {
        if (!stopped) void once().then(() => (timer = setTimeout(loop, intervalMs)));
      };
      loop();
      return {
        stop() {
          stopped = true;
          clearTimeout(timer);
        },
        checkNow: once,
      };
    },
  };
}

const until = async (what: string, ok: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('a reset re-checks from scratch: what the check loop saw while the reset ran is not lost behind "pending"', async () => {
  const store = await Store.open(join(await mkdtemp(join(tmpdir(), 'svclab-sessions-')), 'svclab.db'));
  const learner = await store.addLearner(null, 'Ada', 'c-ada');
  const truth = {
    states: [{ id: 'namespace', state: 'passed' }, { id: 'deployment', state: 'passed' }] as TaskStatus[],
    passMs: 5,
    // The reset removes the learner's deployment; the namespace (made by the lab's setup) stays.
    afterReset: [{ id: 'namespace', state: 'passed' }, { id: 'deployment', state: 'failing', reason: { en: 'no deployment web', zh: '没有 web' } }] as TaskStatus[],
  };
  const published: TasksEvent[] = [];
  const sessions = new LabSessions(fakeEngine(truth), store, (_l, e) => published.push(e), 20);
  const stateOf = (task: string) => store.progress(learner.id, lab.id).find((p) => p.task === task)?.state;
  try {
    await sessions.start(learner.id, learner.cluster, lab.id);
    await until('both tasks passed', () => stateOf('namespace') === 'passed' && stateOf('deployment') === 'passed');
    published.length = 0;
    await sessions.reset(learner.id, learner.cluster, lab.id);
    assert.ok(published.some((e) => e.tasks.every((t) => t.state === 'pending')), 'the reset is shown at once');
    await until('the namespace task passed again and the deployment task failing, on the page and the grid', () => published.at(-1)?.tasks.map((t) => t.state).join() === 'passed,failing');
    assert.equal(stateOf('namespace'), 'passed');
    assert.equal(stateOf('deployment'), 'failing');
  } finally {
    sessions.stopAll();
    await store.close();
  }
});
