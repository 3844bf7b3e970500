import { CoreV1Api } from '@kubernetes/client-node';
import type Docker from 'dockerode';
import { Status } from '../cli/status.ts';
import { clusterUp } from '../cluster/create.ts';
import { kubeconfigPath, readRecord } from '../cluster/state.ts';
import { nodeReady } from '../cluster/wait.ts';
import { oneLine } from '../errors.ts';
import { loadKubeConfig } from '../kube/client.ts';

export type ClusterState = 'absent' | 'starting' | 'running' | 'broken';

export interface ClusterEvent {
  type: 'cluster';
  state: ClusterState;
  message?: string;
  /** Progress lines while starting (" • …", " ✓ …"). */
  progress?: string[];
}

/** Makes (or repairs) a cluster by name, reporting progress through the Status. */
export type ClusterCreator = (name: string, status: Status) => Promise<unknown>;

/** The self-paced creator: `svclab cluster up` on the default engine (workers: as cluster up, 2). */
export const localCreator =
  (docker: Docker, workers?: number): ClusterCreator =>
  (name, status) =>
    clusterUp(docker, { name, workers, source: 'auto', retain: false, waitMs: 300_000, status });

/** Knows whether a learner's cluster is up, and brings it up on request with visible progress. */
export class ClusterManager {
  state: ClusterState = 'absent';
  message?: string;
  private progress: string[] = [];
  private starting?: Promise<void>;

  constructor(
    readonly name: string,
    private readonly create: ClusterCreator,
    private readonly publish: (e: ClusterEvent) => void,
  ) {}

  event(): ClusterEvent {
    return { type: 'cluster', state: this.state, message: this.message, progress: this.state === 'starting' ? this.progress : undefined };
  }

  private set(state: ClusterState, message?: string): void {
    const changed = state !== this.state || message !== this.message || state === 'starting';
    this.state = state;
    this.message = message;
    if (changed) this.publish(this.event());
  }

  get busy(): boolean {
    return this.starting !== undefined;
  }

  /** Looks at the cluster now. */
  async refresh(): Promise<ClusterState> {
    if (this.starting) return this.state;
    const rec = await readRecord(this.name);
    if (!rec) {
      this.set('absent', `no lab cluster "${this.name}" yet`);
      return this.state;
    }
    try {
      const nodes = (await loadKubeConfig(kubeconfigPath(this.name)).makeApiClient(CoreV1Api).listNode()).items;
      const notReady = nodes.filter((n) => !nodeReady(n)).map((n) => n.metadata?.name);
      if (notReady.length) this.set('broken', `nodes not Ready: ${notReady.join(', ')}`);
      else this.set('running', `${nodes.length} nodes Ready`);
    } catch (err) {
      this.set('broken', `the cluster does not answer: ${oneLine(err)}`);
    }
    return this.state;
  }

  /** Marks the cluster broken with a reason (one that could not be made, e.g. refused by admission). */
  fail(message: string): void {
    if (!this.starting) this.set('broken', message);
  }

  /** Starts `cluster up` in the background (once); progress goes out as events. */
  up(): Promise<void> {
    this.starting ??= (async () => {
      this.progress = [];
      this.set('starting', 'starting the lab cluster');
      const sink = {
        isTTY: false,
        write: (s: string) => {
          for (const line of s.split('\n').filter((l) => l.trim())) this.progress.push(line);
          this.publish(this.event());
          return true;
        },
      } as unknown as NodeJS.WriteStream;
      try {
        await this.create(this.name, new Status(sink));
        this.starting = undefined;
        await this.refresh();
      } catch (err) {
        this.starting = undefined;
        this.set('broken', `starting the cluster failed: ${oneLine(err)}`);
      }
    })();
    return this.starting;
  }
}
