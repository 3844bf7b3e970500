// Admission and placement of learner clusters: pure decisions from measured figures.

export interface EngineState {
  /** DOCKER_HOST of the engine ("" for the local default). */
  host: string;
  /** Total memory the engine reports (docker info MemTotal), bytes. */
  memTotal: number;
  /** Memory currently available on that machine, bytes, when known (the local one); else undefined. */
  memAvailable?: number;
  /** svclab learner clusters already placed there (ready, starting or pooled). */
  clusters: number;
}

export interface CapacityPolicy {
  /** Host memory one learner cluster takes, bytes (measured; see docs/classroom.md). */
  perCluster: number;
  /** Memory kept free for the engine, the runner and the OS, bytes. */
  reserve: number;
  maxLearners: number;
}

export type Placement = { ok: true; host: string } | { ok: false; reason: string };

const GiB = 2 ** 30;
const fmt = (b: number) => `${(b / GiB).toFixed(1)} GiB`;

/** Room for more clusters on an engine: what it has minus what its clusters and the reserve need. */
export function room(e: EngineState, p: CapacityPolicy): number {
  const byTotal = e.memTotal - p.reserve - e.clusters * p.perCluster;
  const byAvailable = e.memAvailable === undefined ? Infinity : e.memAvailable - p.reserve;
  return Math.min(byTotal, byAvailable);
}

/**
 * Where the next learner cluster goes: the engine with the most room, if any has room for
 * one more cluster and the class is under its learner limit. Otherwise a reason a learner
 * can read.
 */
export function place(engines: EngineState[], learners: number, p: CapacityPolicy): Placement {
  if (learners >= p.maxLearners) return { ok: false, reason: `the class is full (${p.maxLearners} learners); ask your instructor` };
  const ranked = engines.map((e) => ({ e, room: room(e, p) })).sort((a, b) => b.room - a.room);
  const best = ranked[0];
  if (!best) return { ok: false, reason: 'no Docker engine is configured for learner clusters' };
  if (best.room < p.perCluster) {
    return { ok: false, reason: `no room for another lab cluster (needs ${fmt(p.perCluster)}, the roomiest engine has ${fmt(Math.max(0, best.room))} to spare); ask your instructor` };
  }
  return { ok: true, host: best.e.host };
}

/** How many learner clusters fit on an engine of this size, for the sizing table. */
export function fits(memTotal: number, p: Omit<CapacityPolicy, 'maxLearners'>): number {
  return Math.max(0, Math.floor((memTotal - p.reserve) / p.perCluster));
}
