import { createWriteStream, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Docker from 'dockerode';
import { UserError } from './errors.ts';

/** The Docker engine svclab talks to: $DOCKER_HOST, else the default socket. */
export function dockerClient(): Docker {
  return new Docker();
}

/** A client for a DOCKER_HOST value (unix://, tcp:// with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH, ssh://); "" is the default engine. */
export function dockerForHost(host: string): Docker {
  if (!host) return new Docker();
  const u = new URL(host);
  if (u.protocol === 'unix:') return new Docker({ socketPath: u.pathname });
  // docker-modem reads SSH_AUTH_SOCK and DOCKER_CERT_PATH only for $DOCKER_HOST itself,
  // so for the other engines of a class they are passed here, as the docker CLI would.
  if (u.protocol === 'ssh:') {
    return new Docker({ protocol: 'ssh', host: u.hostname, port: Number(u.port || 22), username: u.username || undefined, sshOptions: { agent: process.env.SSH_AUTH_SOCK } } as Docker.DockerOptions);
  }
  const port = Number(u.port || (process.env.DOCKER_TLS_VERIFY === '1' ? 2376 : 2375));
  const tls = process.env.DOCKER_TLS_VERIFY === '1' || port === 2376;
  if (!tls) return new Docker({ protocol: 'http', host: u.hostname, port } as Docker.DockerOptions);
  const certDir = process.env.DOCKER_CERT_PATH || join(homedir(), '.docker');
  const read = (f: string) => {
    try {
      return readFileSync(join(certDir, f));
    } catch {
      throw new UserError(`--docker-host ${host} uses TLS but ${join(certDir, f)} cannot be read: set DOCKER_CERT_PATH to the folder with ca.pem, cert.pem and key.pem`);
    }
  };
  return new Docker({ protocol: 'https', host: u.hostname, port, ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') } as Docker.DockerOptions);
}

export function dockerHostLabel(): string {
  return process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
}

/** Fails with a one-line UserError if the Docker engine does not answer. */
export async function requireDocker(docker = dockerClient()): Promise<Docker> {
  try {
    await docker.ping();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' || code === 'ECONNREFUSED' ? 'is not running' : code === 'EACCES' ? 'refused access (are you in the docker group?)' : 'is unreachable';
    throw new UserError(`the Docker engine at ${dockerHostLabel()} ${why}: start Docker (or set DOCKER_HOST) and try again`);
  }
  return docker;
}

export async function imageExists(docker: Docker, ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).inspect();
    return true;
  } catch {
    return false;
  }
}

export async function imageLabels(docker: Docker, ref: string): Promise<Record<string, string> | undefined> {
  try {
    const info = await docker.getImage(ref).inspect();
    return (info.Config?.Labels as Record<string, string> | null) ?? {};
  } catch {
    return undefined;
  }
}

interface ProgressEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

/** Waits for a Docker progress stream to end; rejects with the engine's own error text. */
async function followProgress(docker: Docker, stream: NodeJS.ReadableStream, onLine?: (line: string) => void): Promise<ProgressEvent[]> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null, events: ProgressEvent[]) => {
        if (err) return reject(err);
        const failed = events.find((e) => e.error);
        if (failed) return reject(new Error(failed.errorDetail?.message ?? failed.error));
        resolve(events);
      },
      (ev: ProgressEvent) => {
        const text = (ev.stream ?? ev.status ?? '').trimEnd();
        if (text && onLine) for (const l of text.split('\n')) onLine(l);
      },
    );
  });
}

export interface BuildOptions {
  tag: string;
  dockerfile?: string;
  buildargs?: Record<string, string>;
  labels?: Record<string, string>;
  onLine?: (line: string) => void;
}

/** `docker build` of a directory with the classic builder (no BuildKit needed). */
export async function buildImage(docker: Docker, contextDir: string, opts: BuildOptions): Promise<void> {
  const src = await readdir(contextDir);
  const stream = await docker.buildImage(
    { context: contextDir, src },
    { t: opts.tag, dockerfile: opts.dockerfile ?? 'Dockerfile', buildargs: opts.buildargs ?? {}, labels: opts.labels ?? {}, rm: true, forcerm: true, version: '1' },
  );
  await followProgress(docker, stream, opts.onLine);
  if (!(await imageExists(docker, opts.tag))) throw new Error(`docker build did not produce ${opts.tag}`);
}

/** `docker import` of a root filesystem tar stream as repo:tag. */
export async function importRootfs(docker: Docker, tar: NodeJS.ReadableStream, ref: string, changes: string[] = []): Promise<void> {
  const [repo, tag] = splitRef(ref);
  const stream = await docker.importImage(tar, { repo, tag, changes } as object);
  await followProgress(docker, stream);
}

/** `docker save` of several images into one tar file (shared layers stored once). */
export async function saveImages(docker: Docker, refs: string[], file: string): Promise<void> {
  const getImages = (docker as unknown as { getImages(opts: { names: string[] }): Promise<NodeJS.ReadableStream> }).getImages.bind(docker);
  const stream = await getImages({ names: refs });
  await pipeline(stream, createWriteStream(file));
}

export async function pullImage(docker: Docker, ref: string, onLine?: (line: string) => void): Promise<void> {
  const stream = await docker.pull(ref);
  await followProgress(docker, stream, onLine);
}

export function splitRef(ref: string): [string, string] {
  const at = ref.lastIndexOf(':');
  if (at > ref.lastIndexOf('/')) return [ref.slice(0, at), ref.slice(at + 1)];
  return [ref, 'latest'];
}

/** Runs a command in a running container; resolves with its output, rejects on a non-zero exit. */
export async function execIn(docker: Docker, container: string, cmd: string[], input?: string): Promise<string> {
  const exec = await docker.getContainer(container).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, AttachStdin: input !== undefined });
  const stream = await exec.start({ hijack: true, stdin: input !== undefined });
  const chunks: Buffer[] = [];
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => chunks.push(c));
  docker.modem.demuxStream(stream, sink, sink);
  if (input !== undefined) {
    stream.write(input);
    (stream as unknown as { end(): void }).end();
  }
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  const output = Buffer.concat(chunks).toString('utf8');
  const info = await exec.inspect();
  if (info.ExitCode !== 0) throw new Error(`${cmd.join(' ')} in ${container} exited ${info.ExitCode}: ${output.trim().split('\n').slice(-3).join(' | ')}`);
  return output;
}
