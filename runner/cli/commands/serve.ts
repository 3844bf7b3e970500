import { isIP } from 'node:net';
import type { Command } from 'commander';
import { validateClusterName } from '../../core/cluster/kind-config.ts';
import { requireDocker } from '../../docker.ts';
import { UserError } from '../../errors.ts';
import { startRunner } from '../../server/runner.ts';
import { ensureSite } from '../../server/site.ts';
import { Status } from '../status.ts';

export const DEFAULT_PORT = 8420;

export interface ServeOptions {
  port: string;
  host: string;
  cluster: string;
  site: boolean;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** Serves the lessons and the runner API until interrupted. */
export async function serveAction(opts: ServeOptions): Promise<void> {
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`invalid --port "${opts.port}": give a port number from 1 to 65535 (0 picks a free one)`);
  if (opts.host !== 'localhost' && !isIP(opts.host)) throw new UserError(`invalid --host "${opts.host}": give an IP address to listen on, e.g. 127.0.0.1 or 0.0.0.0`);
  const problem = validateClusterName(opts.cluster);
  if (problem) throw new UserError(problem);
  const docker = await requireDocker();
  const status = new Status();
  const siteDir = opts.site ? await status.step('Building the lesson site', () => ensureSite()) : undefined;
  let runner;
  try {
    runner = await startRunner({ cluster: opts.cluster, port, host: opts.host, siteDir, docker });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new UserError(`port ${port} is already in use: pass --port with another port (or stop the other svclab serve)`);
    throw err;
  }
  if (!isLoopback(opts.host)) {
    process.stderr.write(`WARNING: listening on ${opts.host}: anyone who can reach this address and has the link below gets a shell in your lab cluster.\n`);
  }
  console.log(`svclab is serving the lessons at ${runner.url}?token=${runner.token}`);
  console.log('Open that link in a browser (it carries your access token). Press Ctrl-C to stop; the cluster keeps running.');
  await new Promise<void>((resolve) => {
    const stop = () => void runner.close().then(resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export function addServeOptions(cmd: Command): Command {
  return cmd
    .option('--port <port>', 'port to listen on', String(DEFAULT_PORT))
    .option('--host <address>', 'address to listen on (anything but loopback exposes your lab shell on the network)', '127.0.0.1')
    .option('--no-site', 'serve only the API, not the lesson site');
}

export function registerServe(program: Command): void {
  addServeOptions(program.command('serve').description('serve the lessons and the runner (terminal, live task checks) for the lab cluster'))
    .option('--cluster <name>', 'the lab cluster', 'svclab')
    .action((opts: ServeOptions) => serveAction(opts));
}
