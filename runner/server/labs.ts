// Labs on the server: a learner starts a lab (its setup is applied to their cluster), a
// check loop keeps the lab's task states current, and every change is recorded in the
// store (passed-at, attempts) and sent to the learner's page and the instructor's grid.
import type { Store } from './store.ts';

export interface Bilingual {
  en: string;
  zh: string;
}

export interface TaskStatus {
  id: string;
  state: 'pending' | 'failing' | 'passed';
  reason?: Bilingual;
}

/** What the server needs of a lab definition. */
export interface LabInfo {
  id: string;
  title: Bilingual;
  summary?: Bilingual;
  tasks: { id: string; title: Bilingual; text?: Bilingual; hints: Bilingual[]; solution?: Bilingual; answer?: { prompt: Bilingual } }[];
}

/** The grading engine (runner/grade), injected so that this module stays about sessions. */
export interface LabEngine {
  loadLab(id: string): Promise<LabInfo>;
  listLabs(): Promise<string[]>;
  setupLab(cluster: string, id: string): Promise<void>;
  resetLab(cluster: string, id: string): Promise<void>;
  /** Records what the learner typed for a task that asks for an answer. */
  setAnswer(cluster: string, lab: string, task: string, value: string): Promise<void>;
  /** `passed`: the tasks the store has as passed (a task marked `once` in its lab stays so). */
  watchLab(opts: { cluster: string; lab: string; intervalMs?: number; passed?: string[]; onChange: (tasks: TaskStatus[]) => void }): { stop(): void; checkNow(): Promise<TaskStatus[]> };
}

export interface TasksEvent {
  type: 'tasks';
  lab: string;
  tasks: (TaskStatus & { passedAt?: string })[];
}

/** The check loops of one server: one per (learner, started lab). */
export class LabSessions {
  private watchers = new Map<string, { stop(): void; checkNow(): Promise<TaskStatus[]> }>();

  constructor(
    readonly engine: LabEngine,
    private readonly store: Store,
    /** Called with every task-state change of a learner (to their page and the instructor grid). */
    private readonly publish: (learnerId: string, e: TasksEvent) => void,
    private readonly intervalMs = 2000,
  ) {}

  private key = (learnerId: string, lab: string) => `${learnerId}\0${lab}`;

  /** The tasks as the store knows them (pending for tasks never checked). */
  states(learnerId: string, lab: LabInfo): TasksEvent['tasks'] {
    const rows = new Map(this.store.progress(learnerId, lab.id).map((r) => [r.task, r]));
    return lab.tasks.map((t) => {
      const r = rows.get(t.id);
      const reason = r?.reason ? (JSON.parse(r.reason) as Bilingual) : undefined;
      return { id: t.id, state: r?.state ?? 'pending', ...(reason ? { reason } : {}), ...(r?.passedAt ? { passedAt: r.passedAt } : {}) };
    });
  }

  private async record(learnerId: string, lab: LabInfo, tasks: TaskStatus[]): Promise<void> {
    let changed = false;
    for (const t of tasks) {
      if (await this.store.recordState(learnerId, lab.id, t.id, t.state, t.reason ? JSON.stringify(t.reason) : null)) changed = true;
    }
    if (changed) this.publish(learnerId, { type: 'tasks', lab: lab.id, tasks: this.states(learnerId, lab) });
  }

  /** Starts (or keeps) the check loop of a learner's lab. */
  async watch(learnerId: string, cluster: string, labId: string): Promise<void> {
    const key = this.key(learnerId, labId);
    if (this.watchers.has(key)) return;
    const lab = await this.engine.loadLab(labId);
    const passed = this.store.progress(learnerId, labId).filter((r) => r.state === 'passed').map((r) => r.task);
    const w = this.engine.watchLab({ cluster, lab: labId, intervalMs: this.intervalMs, passed, onChange: (tasks) => void this.record(learnerId, lab, tasks) });
    this.watchers.set(key, w);
  }

  /** Applies the lab's setup to the learner's cluster and starts checking it. */
  async start(learnerId: string, cluster: string, labId: string): Promise<void> {
    await this.engine.setupLab(cluster, labId);
    await this.store.markLabStarted(learnerId, labId);
    await this.watch(learnerId, cluster, labId);
  }

  /** Puts the lab back to its setup state; its tasks go back to pending. */
  async reset(learnerId: string, cluster: string, labId: string): Promise<void> {
    // The old loop goes: a pass begun before the reset would record the old states again,
    // and its memory of the last states would hide tasks that still pass after the reset.
    this.unwatch(learnerId, labId);
    await this.engine.resetLab(cluster, labId);
    await this.store.resetLab(learnerId, labId);
    const lab = await this.engine.loadLab(labId);
    this.publish(learnerId, { type: 'tasks', lab: labId, tasks: this.states(learnerId, lab) });
    await this.store.markLabStarted(learnerId, labId);
    await this.watch(learnerId, cluster, labId);
  }

  async checkNow(learnerId: string, cluster: string, labId: string): Promise<TasksEvent['tasks']> {
    await this.watch(learnerId, cluster, labId);
    const lab = await this.engine.loadLab(labId);
    const tasks = await this.watchers.get(this.key(learnerId, labId))!.checkNow();
    await this.record(learnerId, lab, tasks);
    return this.states(learnerId, lab);
  }

  private unwatch(learnerId: string, labId: string): void {
    const key = this.key(learnerId, labId);
    this.watchers.get(key)?.stop();
    this.watchers.delete(key);
  }

  /** Stops every loop of a learner (e.g. their cluster is being recreated). */
  stopLearner(learnerId: string): void {
    for (const [k, w] of this.watchers) {
      if (k.startsWith(`${learnerId}\0`)) {
        w.stop();
        this.watchers.delete(k);
      }
    }
  }

  stopAll(): void {
    for (const w of this.watchers.values()) w.stop();
    this.watchers.clear();
  }
}
