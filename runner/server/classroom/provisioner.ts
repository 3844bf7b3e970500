import { readFile } from 'node:fs/promises';
import type Docker from 'dockerode';
import { Status } from '../../cli/status.ts';
import { clusterUp } from '../../cluster/create.ts';
import { deleteCluster } from '../../cluster/delete.ts';
import { dockerForHost } from '../../docker.ts';
import { knownClusters, readRecord, type ClusterRecord } from '../../cluster/state.ts';
import { place, type CapacityPolicy, type EngineState, type Placement } from './capacity.ts';

export interface Engine {
  /** DOCKER_HOST ("" = the default local engine). */
  host: string;
  docker: Docker;
}

/** Docker engines from `--docker-host` values (unix://, tcp:// with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH, ssh://). */
export function enginesFrom(hosts: string[]): Engine[] {
  if (hosts.length === 0) return [{ host: '', docker: dockerForHost('') }];
  return hosts.map((host) => ({ host, docker: dockerForHost(host) }));
}

async function localMemAvailable(): Promise<number | undefined> {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(await readFile('/proc/meminfo', 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

const isLocal = (host: string) => host === '' || host === 'unix:///var/run/docker.sock' || host === 'unix:///run/docker.sock';
const sameEngine = (a: string, b: string) => a === b || (isLocal(a) && isLocal(b));

/**
 * Makes learner clusters, one at a time (creation is CPU-bound; two at once on two cores
 * only makes both slow), on the engine with the most room, refusing when none has room.
 */
export class Provisioner {
  private queue: Promise<unknown> = Promise.resolve();
  private reserved = new Map<string, string>();

  constructor(
    readonly engines: Engine[],
    readonly policy: CapacityPolicy,
    /** The engine images are built on (the local one). */
    private readonly buildDocker: Docker,
    readonly workers: number,
    /**
     * Learner clusters get the lean profile (ClusterSpec.lean: less idle CPU per cluster, so
     * that more learners fit on the cores; see bench/classroom/README.md) unless this is false.
     */
    readonly lean = true,
  ) {}

  /** What each engine has: memory and svclab clusters placed there (including those being made). */
  async engineStates(): Promise<EngineState[]> {
    const records = (await Promise.all((await knownClusters()).map((n) => readRecord(n)))).filter((r): r is ClusterRecord => !!r);
    const out: EngineState[] = [];
    for (const e of this.engines) {
      const info = (await e.docker.info()) as { MemTotal: number };
      const names = new Set(records.filter((r) => sameEngine(r.dockerHost ?? '', e.host)).map((r) => r.name));
      for (const [name, host] of this.reserved) if (sameEngine(host, e.host)) names.add(name);
      out.push({ host: e.host, memTotal: info.MemTotal, memAvailable: isLocal(e.host) ? await localMemAvailable() : undefined, clusters: names.size });
    }
    return out;
  }

  /** Decides where a new cluster would go, or why it cannot be made. */
  async admit(learners: number): Promise<Placement> {
    return place(await this.engineStates(), learners, this.policy);
  }

  /** Reserves room for a cluster on an engine before it is made, so that admission counts it. */
  reserve(name: string, host: string): void {
    this.reserved.set(name, host);
  }

  /** Creates (or repairs) a cluster on the engine it was reserved on; queued behind earlier ones. */
  create(name: string, status: Status): Promise<ClusterRecord> {
    const run = async () => {
      const existing = await readRecord(name);
      const host = existing?.dockerHost ?? this.reserved.get(name) ?? '';
      const engine = this.engines.find((e) => e.host === host);
      try {
        return await clusterUp(this.buildDocker, {
          name,
          workers: this.workers,
          lean: this.lean,
          engine: engine && !isLocal(engine.host) ? engine : undefined,
          source: 'auto',
          retain: false,
          waitMs: 300_000,
          status,
        });
      } finally {
        this.reserved.delete(name);
      }
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  async destroy(name: string): Promise<void> {
    await deleteCluster(this.buildDocker, name);
  }

  /** Idle until every queued creation has finished. */
  async drain(): Promise<void> {
    await this.queue;
  }
}

export const quietStatus = () => new Status({ isTTY: false, write: () => true } as unknown as NodeJS.WriteStream);
