import type { KubeConfig } from '@kubernetes/client-node';
import { findKind, Kind } from '../cluster/kind.ts';
import { kubeconfigPath } from '../cluster/state.ts';
import { loadKubeConfig } from '../kube/client.ts';
import { HttpError } from './app.ts';
import { ClusterManager, type ClusterCreator, type ClusterEvent } from './cluster-manager.ts';
import type { TasksEvent } from './labs.ts';
import type { LearnerRow } from './store.ts';
import { Shell } from './terminal/shell.ts';

export type LearnerEvent = ClusterEvent | TasksEvent | { type: string; [k: string]: unknown };

/** What one learner has on the server: their cluster, their shell, their event topic. */
export class LearnerEnv {
  readonly cluster: ClusterManager;
  private shellInstance?: Shell;
  private kc?: KubeConfig;

  constructor(
    readonly learner: LearnerRow,
    create: ClusterCreator,
    readonly publish: (e: LearnerEvent) => void,
  ) {
    this.cluster = new ClusterManager(learner.cluster, create, (e) => {
      if (e.state !== 'running') this.kc = undefined;
      publish(e);
    });
  }

  /** The learner's cluster's kubeconfig; a 409 for the learner while it is not running. */
  kube(): KubeConfig {
    if (this.cluster.state !== 'running') throw new HttpError(409, this.cluster.message ?? 'the lab cluster is not running');
    this.kc ??= loadKubeConfig(kubeconfigPath(this.learner.cluster));
    return this.kc;
  }

  /** The learner's one shell, shared by all their tabs (and watched by an instructor). */
  shell(): Shell {
    this.shellInstance ??= new Shell(this.kube());
    return this.shellInstance;
  }

  get hasShell(): boolean {
    return this.shellInstance !== undefined;
  }

  async nodes(): Promise<string[]> {
    return new Kind(await findKind()).nodes(this.learner.cluster);
  }

  /** Drops the shell (e.g. after the cluster was recreated); the next attach starts a new one. */
  resetShell(): void {
    this.shellInstance?.close();
    this.shellInstance = undefined;
    this.kc = undefined;
  }

  close(): void {
    this.shellInstance?.close();
  }
}
