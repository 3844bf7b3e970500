// The runner's state on disk: classes, learners, progress and events, in SQLite (sql.js:
// SQLite compiled to WebAssembly, so no native build). Every write commits to a
// temporary file and renames it over the database, so a crash never leaves a torn file.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import initSqlJs, { type Database, type SqlValue } from 'sql.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS classes (
  id TEXT PRIMARY KEY, title TEXT NOT NULL, labs TEXT NOT NULL, join_code TEXT NOT NULL UNIQUE,
  instructor_token TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS learners (
  id TEXT PRIMARY KEY, class_id TEXT, name TEXT NOT NULL, token TEXT NOT NULL UNIQUE,
  cluster TEXT NOT NULL, created_at TEXT NOT NULL, last_seen TEXT,
  UNIQUE (class_id, name));
CREATE TABLE IF NOT EXISTS progress (
  learner_id TEXT NOT NULL, lab TEXT NOT NULL, task TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending', reason TEXT, started_at TEXT, passed_at TEXT,
  attempts INTEGER NOT NULL DEFAULT 0, hints_used INTEGER NOT NULL DEFAULT 0,
  solution_revealed INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL,
  PRIMARY KEY (learner_id, lab, task));
CREATE TABLE IF NOT EXISTS lab_starts (
  learner_id TEXT NOT NULL, lab TEXT NOT NULL, started_at TEXT NOT NULL, PRIMARY KEY (learner_id, lab));
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, class_id TEXT, learner_id TEXT,
  kind TEXT NOT NULL, data TEXT);
`;

export interface ClassRow {
  id: string;
  title: string;
  labs: string[];
  joinCode: string;
  instructorToken: string;
  createdAt: string;
}

export interface LearnerRow {
  id: string;
  classId: string | null;
  name: string;
  token: string;
  cluster: string;
  createdAt: string;
  lastSeen: string | null;
}

export interface ProgressRow {
  learnerId: string;
  lab: string;
  task: string;
  state: 'pending' | 'failing' | 'passed';
  reason: string | null;
  startedAt: string | null;
  passedAt: string | null;
  attempts: number;
  hintsUsed: number;
  solutionRevealed: boolean;
  updatedAt: string;
}

const now = () => new Date().toISOString();
export const newToken = () => randomBytes(18).toString('base64url');

export class Store {
  private writing = Promise.resolve();

  private constructor(
    private readonly db: Database,
    private readonly file: string,
  ) {}

  static async open(file: string): Promise<Store> {
    const SQL = await initSqlJs();
    const db = existsSync(file) ? new SQL.Database(await readFile(file)) : new SQL.Database();
    db.run(SCHEMA);
    const store = new Store(db, file);
    await store.persist();
    return store;
  }

  /** Writes the database out; writes are serialized and each one is atomic. */
  private persist(): Promise<void> {
    const data = this.db.export();
    this.writing = this.writing.then(async () => {
      await mkdir(dirname(this.file), { recursive: true });
      await writeFile(`${this.file}.tmp`, data, { mode: 0o600 });
      await rename(`${this.file}.tmp`, this.file);
    });
    return this.writing;
  }

  private all(sql: string, params: SqlValue[] = []): Record<string, SqlValue>[] {
    const stmt = this.db.prepare(sql);
    try {
      stmt.bind(params);
      const rows: Record<string, SqlValue>[] = [];
      while (stmt.step()) rows.push(stmt.getAsObject());
      return rows;
    } finally {
      stmt.free();
    }
  }

  private async exec(sql: string, params: SqlValue[] = []): Promise<void> {
    this.db.run(sql, params);
    await this.persist();
  }

  // --- classes

  async createClass(title: string, labs: string[]): Promise<ClassRow> {
    const row: ClassRow = { id: randomBytes(4).toString('hex'), title, labs, joinCode: randomBytes(3).toString('hex').toUpperCase(), instructorToken: newToken(), createdAt: now() };
    await this.exec('INSERT INTO classes VALUES (?,?,?,?,?,?)', [row.id, row.title, JSON.stringify(labs), row.joinCode, row.instructorToken, row.createdAt]);
    return row;
  }

  private toClass(r: Record<string, SqlValue>): ClassRow {
    return { id: String(r.id), title: String(r.title), labs: JSON.parse(String(r.labs)) as string[], joinCode: String(r.join_code), instructorToken: String(r.instructor_token), createdAt: String(r.created_at) };
  }

  classes(): ClassRow[] {
    return this.all('SELECT * FROM classes ORDER BY created_at').map((r) => this.toClass(r));
  }

  classById(id: string): ClassRow | undefined {
    const [r] = this.all('SELECT * FROM classes WHERE id = ?', [id]);
    return r ? this.toClass(r) : undefined;
  }

  classByJoinCode(code: string): ClassRow | undefined {
    const [r] = this.all('SELECT * FROM classes WHERE join_code = ?', [code.toUpperCase()]);
    return r ? this.toClass(r) : undefined;
  }

  classByInstructorToken(token: string): ClassRow | undefined {
    const [r] = this.all('SELECT * FROM classes WHERE instructor_token = ?', [token]);
    return r ? this.toClass(r) : undefined;
  }

  // --- learners

  private toLearner(r: Record<string, SqlValue>): LearnerRow {
    return { id: String(r.id), classId: r.class_id === null ? null : String(r.class_id), name: String(r.name), token: String(r.token), cluster: String(r.cluster), createdAt: String(r.created_at), lastSeen: r.last_seen === null ? null : String(r.last_seen) };
  }

  async addLearner(classId: string | null, name: string, cluster: string, id = randomBytes(4).toString('hex')): Promise<LearnerRow> {
    const row: LearnerRow = { id, classId, name, token: newToken(), cluster, createdAt: now(), lastSeen: null };
    await this.exec('INSERT INTO learners VALUES (?,?,?,?,?,?,?)', [row.id, row.classId, row.name, row.token, row.cluster, row.createdAt, null]);
    return row;
  }

  learnerById(id: string): LearnerRow | undefined {
    const [r] = this.all('SELECT * FROM learners WHERE id = ?', [id]);
    return r ? this.toLearner(r) : undefined;
  }

  learnerByToken(token: string): LearnerRow | undefined {
    const [r] = this.all('SELECT * FROM learners WHERE token = ?', [token]);
    return r ? this.toLearner(r) : undefined;
  }

  learners(classId: string | null): LearnerRow[] {
    return (classId === null ? this.all('SELECT * FROM learners WHERE class_id IS NULL ORDER BY created_at') : this.all('SELECT * FROM learners WHERE class_id = ? ORDER BY created_at', [classId])).map((r) =>
      this.toLearner(r),
    );
  }

  async setLearnerCluster(id: string, cluster: string): Promise<void> {
    await this.exec('UPDATE learners SET cluster = ? WHERE id = ?', [cluster, id]);
  }

  async touchLearner(id: string): Promise<void> {
    await this.exec('UPDATE learners SET last_seen = ? WHERE id = ?', [now(), id]);
  }

  // --- progress

  private toProgress(r: Record<string, SqlValue>): ProgressRow {
    return {
      learnerId: String(r.learner_id),
      lab: String(r.lab),
      task: String(r.task),
      state: String(r.state) as ProgressRow['state'],
      reason: r.reason === null ? null : String(r.reason),
      startedAt: r.started_at === null ? null : String(r.started_at),
      passedAt: r.passed_at === null ? null : String(r.passed_at),
      attempts: Number(r.attempts),
      hintsUsed: Number(r.hints_used),
      solutionRevealed: Number(r.solution_revealed) === 1,
      updatedAt: String(r.updated_at),
    };
  }

  progress(learnerId: string, lab?: string): ProgressRow[] {
    const rows = lab === undefined ? this.all('SELECT * FROM progress WHERE learner_id = ?', [learnerId]) : this.all('SELECT * FROM progress WHERE learner_id = ? AND lab = ?', [learnerId, lab]);
    return rows.map((r) => this.toProgress(r));
  }

  private ensureProgress(learnerId: string, lab: string, task: string): void {
    this.db.run('INSERT OR IGNORE INTO progress (learner_id, lab, task, started_at, updated_at) VALUES (?,?,?,?,?)', [learnerId, lab, task, now(), now()]);
  }

  /**
   * Records a task's state from a check. A change from failing/pending to passed stamps
   * passed_at; each new failing reason counts as an attempt. Returns true if anything changed.
   */
  async recordState(learnerId: string, lab: string, task: string, state: ProgressRow['state'], reason: string | null): Promise<boolean> {
    this.ensureProgress(learnerId, lab, task);
    const [cur] = this.progress(learnerId, lab).filter((p) => p.task === task);
    if (cur && cur.state === state && cur.reason === reason) return false;
    const passedAt = state === 'passed' ? (cur?.passedAt ?? now()) : null;
    const attempts = (cur?.attempts ?? 0) + (state === 'failing' && cur?.reason !== reason ? 1 : 0);
    await this.exec('UPDATE progress SET state = ?, reason = ?, passed_at = ?, attempts = ?, updated_at = ? WHERE learner_id = ? AND lab = ? AND task = ?', [state, reason, passedAt, attempts, now(), learnerId, lab, task]);
    return true;
  }

  async useHint(learnerId: string, lab: string, task: string, available: number): Promise<number> {
    this.ensureProgress(learnerId, lab, task);
    this.db.run('UPDATE progress SET hints_used = MIN(hints_used + 1, ?), updated_at = ? WHERE learner_id = ? AND lab = ? AND task = ?', [available, now(), learnerId, lab, task]);
    await this.persist();
    return this.progress(learnerId, lab).find((p) => p.task === task)!.hintsUsed;
  }

  async revealSolution(learnerId: string, lab: string, task: string): Promise<void> {
    this.ensureProgress(learnerId, lab, task);
    await this.exec('UPDATE progress SET solution_revealed = 1, updated_at = ? WHERE learner_id = ? AND lab = ? AND task = ?', [now(), learnerId, lab, task]);
  }

  /** Forgets a learner's state for a lab (a reset): tasks go back to pending; hints used are kept. */
  async resetLab(learnerId: string, lab: string): Promise<void> {
    await this.exec("UPDATE progress SET state = 'pending', reason = NULL, passed_at = NULL, updated_at = ? WHERE learner_id = ? AND lab = ?", [now(), learnerId, lab]);
  }

  async markLabStarted(learnerId: string, lab: string): Promise<void> {
    await this.exec('INSERT OR IGNORE INTO lab_starts VALUES (?,?,?)', [learnerId, lab, now()]);
  }

  labStarted(learnerId: string, lab: string): boolean {
    return this.all('SELECT 1 FROM lab_starts WHERE learner_id = ? AND lab = ?', [learnerId, lab]).length > 0;
  }

  // --- events

  async logEvent(kind: string, data: unknown, ids: { classId?: string | null; learnerId?: string | null } = {}): Promise<void> {
    await this.exec('INSERT INTO events (at, class_id, learner_id, kind, data) VALUES (?,?,?,?,?)', [now(), ids.classId ?? null, ids.learnerId ?? null, kind, JSON.stringify(data)]);
  }

  events(classId: string, limit = 200): { at: string; learnerId: string | null; kind: string; data: unknown }[] {
    return this.all('SELECT * FROM events WHERE class_id = ? ORDER BY id DESC LIMIT ?', [classId, limit]).map((r) => ({
      at: String(r.at),
      learnerId: r.learner_id === null ? null : String(r.learner_id),
      kind: String(r.kind),
      data: r.data === null ? null : JSON.parse(String(r.data)),
    }));
  }

  async close(): Promise<void> {
    await this.writing;
    this.db.close();
  }
}
