import { existsSync } from 'node:fs';
import { UserError } from '../errors.ts';
import { commandExists, run } from '../exec.ts';
import { ensureGoTarget, goBinary } from '../images/go-binaries.ts';
import { versions } from '../images/versions.ts';

/**
 * The kind CLI svclab drives: the one svclab built from the Go module proxy, else
 * `kind` on PATH, else built now if Go is installed.
 */
export async function findKind(onLine?: (l: string) => void): Promise<string> {
  const cached = goBinary('kind');
  if (existsSync(cached)) return cached;
  if (await commandExists('kind')) return 'kind';
  if (await commandExists('go')) {
    await ensureGoTarget('kind', onLine);
    return cached;
  }
  throw new UserError(`kind is not installed: install kind ${versions.kind} (https://kind.sigs.k8s.io/docs/user/quick-start/#installation), or Go so that svclab can build it`);
}

export class Kind {
  private readonly env: NodeJS.ProcessEnv;

  /** `dockerHost`: the engine kind works on (DOCKER_HOST); undefined for the default one. */
  constructor(
    readonly bin: string,
    private readonly onLine?: (l: string) => void,
    dockerHost?: string,
  ) {
    this.env = dockerHost ? { ...process.env, DOCKER_HOST: dockerHost } : process.env;
  }

  async clusters(): Promise<string[]> {
    const r = await run(this.bin, ['get', 'clusters'], { allowFailure: true, env: this.env });
    return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  }

  async nodes(name: string): Promise<string[]> {
    const r = await run(this.bin, ['get', 'nodes', '--name', name], { allowFailure: true, env: this.env });
    return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean).sort();
  }

  /** Creates the cluster; kind keeps failed nodes (--retain) so svclab decides about cleanup. */
  async create(name: string, image: string, configPath: string, kubeconfig: string): Promise<void> {
    await run(this.bin, ['create', 'cluster', '--name', name, '--image', image, '--config', configPath, '--kubeconfig', kubeconfig, '--retain', '--wait', '0s'], {
      onLine: this.onLine,
      timeoutMs: 10 * 60_000,
      env: this.env,
    });
  }

  async delete(name: string, kubeconfig: string): Promise<void> {
    await run(this.bin, ['delete', 'cluster', '--name', name, '--kubeconfig', kubeconfig], { onLine: this.onLine, timeoutMs: 5 * 60_000, env: this.env });
  }

  /** Loads images into every node in one `docker save` (shared layers once). */
  async loadImages(name: string, refs: string[]): Promise<void> {
    await run(this.bin, ['load', 'docker-image', '--name', name, ...refs], { onLine: this.onLine, timeoutMs: 10 * 60_000, env: this.env });
  }
}
