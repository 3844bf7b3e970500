import { isIP } from 'node:net';
import type { Command } from 'commander';
import { validateClusterName } from '../../core/cluster/kind-config.ts';
import { requireDocker } from '../../docker.ts';
import { UserError } from '../../errors.ts';
import { readFile } from 'node:fs/promises';
import { dockerHostLabel } from '../../docker.ts';
import { enginesFrom } from '../../server/classroom/provisioner.ts';
import { labEngine } from '../../server/lab-engine.ts';
import { startRunner, type ClassroomOptions } from '../../server/runner.ts';
import { writeServerInfo } from '../../server/server-info.ts';
import { ensureSite } from '../../server/site.ts';
import { Status } from '../status.ts';

export const DEFAULT_PORT = 8420;

export interface ServeOptions {
  port: string;
  host: string;
  cluster: string;
  site: boolean;
  classroom?: boolean;
  warm?: string;
  maxLearners?: string;
  classWorkers?: string;
  dockerHost?: string[];
  hostsFile?: string;
}

const GiB = 2 ** 30;

/** Host memory per learner cluster, measured on this machine type (docs/classroom.md). */
export function perClusterMemory(workers: number): number {
  return (0.75 + 0.25 * workers) * GiB;
}

function count(raw: string | undefined, flag: string, dflt: number, max: number): number {
  if (raw === undefined) return dflt;
  if (!/^\d+$/.test(raw) || Number(raw) > max) throw new UserError(`invalid ${flag} "${raw}": give a whole number from 0 to ${max}`);
  return Number(raw);
}

async function classroomOptions(opts: ServeOptions): Promise<ClassroomOptions | undefined> {
  if (!opts.classroom) return undefined;
  const workers = count(opts.classWorkers, '--class-workers', 0, 4);
  let hosts = opts.dockerHost ?? [];
  if (opts.hostsFile) {
    let text: string;
    try {
      text = await readFile(opts.hostsFile, 'utf8');
    } catch (err) {
      throw new UserError(`cannot read hosts file ${opts.hostsFile}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    text.split(/\r?\n/).forEach((line, i) => {
      const h = line.replace(/#.*$/, '').trim();
      if (!h) return;
      if (!/^(unix|tcp|ssh):\/\//.test(h)) throw new UserError(`hosts file ${opts.hostsFile} line ${i + 1}: "${h}" is not a Docker host (unix://, tcp:// or ssh://)`);
      hosts = [...hosts, h];
    });
  }
  for (const h of hosts) if (!/^(unix|tcp|ssh):\/\//.test(h)) throw new UserError(`invalid --docker-host "${h}": use unix:///path, tcp://host:port or ssh://user@host`);
  const engines = enginesFrom(hosts);
  for (const e of engines) {
    try {
      await e.docker.ping();
    } catch {
      throw new UserError(`the Docker engine ${e.host || dockerHostLabel()} does not answer: start it, or leave it out of --docker-host`);
    }
  }
  return {
    engines,
    warm: count(opts.warm, '--warm', 0, 50),
    workers,
    policy: { perCluster: perClusterMemory(workers), reserve: 3 * GiB, maxLearners: count(opts.maxLearners, '--max-learners', 30, 500) },
  };
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
    runner = await startRunner({ cluster: opts.cluster, port, host: opts.host, siteDir, docker, classroom: await classroomOptions(opts), labs: await labEngine() });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new UserError(`port ${port} is already in use: pass --port with another port (or stop the other svclab serve)`);
    throw err;
  }
  if (!isLoopback(opts.host)) {
    process.stderr.write(`WARNING: listening on ${opts.host}: anyone who can reach this address and has the link below gets a shell in your lab cluster.\n`);
  }
  await writeServerInfo({ url: runner.url, pid: process.pid });
  if (runner.adminToken) {
    console.log(`svclab classroom server at ${runner.url}`);
    console.log(`Instructor dashboard: ${runner.url}instructor?token=${runner.adminToken}`);
    console.log("Create a class there, or with 'svclab class create --title … --labs …'. Press Ctrl-C to stop.");
  } else {
    console.log(`svclab is serving the lessons at ${runner.url}?token=${runner.token}`);
    console.log('Open that link in a browser (it carries your access token). Press Ctrl-C to stop; the cluster keeps running.');
  }
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

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerServe(program: Command): void {
  addServeOptions(program.command('serve').description('serve the lessons and the runner (terminal, live task checks) for the lab cluster'))
    .option('--cluster <name>', 'the lab cluster', 'svclab')
    .option('--classroom', 'classroom mode: classes of learners, each with their own lab cluster, and an instructor dashboard', false)
    .option('--warm <n>', 'classroom: spare ready clusters kept per class, so joining learners wait seconds (default 0)')
    .option('--max-learners <n>', 'classroom: learners admitted per class (default 30)')
    .option('--class-workers <n>', 'classroom: worker nodes per learner cluster (default 0: one node)')
    .option('--docker-host <url>', 'classroom: a Docker engine for learner clusters (repeatable; unix://, tcp:// with DOCKER_TLS_VERIFY, ssh://)', collect, [])
    .option('--hosts-file <file>', 'classroom: a file with one Docker host per line')
    .action((opts: ServeOptions) => serveAction(opts));
}
