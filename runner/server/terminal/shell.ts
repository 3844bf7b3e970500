import { PassThrough, Writable } from 'node:stream';
import { CoreV1Api, Exec, type KubeConfig } from '@kubernetes/client-node';
import { ReplayBuffer } from './replay-buffer.ts';

/** Something that receives a shell's output. */
export interface ShellViewer {
  output(data: Buffer): void;
  /** The shell's process ended (the learner typed exit); a new one starts on the next input. */
  exited(code: number | undefined): void;
  /** The learner's terminal changed size (viewers that may not resize draw at the same size). */
  resized?(cols: number, rows: number): void;
}

export interface ShellTarget {
  namespace: string;
  labelSelector: string;
  container: string;
  command: string[];
}

export const toolboxTarget: ShellTarget = {
  namespace: 'svclab',
  labelSelector: 'app.kubernetes.io/name=svclab-toolbox',
  container: 'toolbox',
  command: ['bash', '-l'],
};

/** A writable that client-node's exec treats as a resizable terminal. */
class TerminalSink extends Writable {
  columns = 80;
  rows = 24;
  constructor(private readonly onData: (b: Buffer) => void) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.onData(chunk);
    cb();
  }
  setSize(cols: number, rows: number): void {
    this.columns = cols;
    this.rows = rows;
    this.emit('resize');
  }
}

/**
 * One learner's shell in the lab cluster: a `bash` in the toolbox pod through the API
 * server's exec endpoint, with a TTY. It outlives browser tabs: every tab of the learner
 * is a viewer of the same shell, and a tab that reconnects gets the replay buffer.
 */
export class Shell {
  readonly replay = new ReplayBuffer();
  private viewers = new Set<ShellViewer>();
  private stdin?: PassThrough;
  private sink?: TerminalSink;
  /** The exec stream to the API server; closing stdin alone leaves a TTY's bash (and this socket) running. */
  private conn?: { close(): void; terminate?(): void };
  private starting?: Promise<void>;
  private size = { cols: 80, rows: 24 };
  lastActivity = Date.now();

  constructor(
    private readonly kc: KubeConfig,
    private readonly target: ShellTarget = toolboxTarget,
  ) {}

  get running(): boolean {
    return this.stdin !== undefined;
  }

  attach(v: ShellViewer): () => void {
    this.viewers.add(v);
    return () => this.viewers.delete(v);
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  /** Starts the shell if it is not running. Rejects with a learner-readable reason. */
  async ensureStarted(): Promise<void> {
    if (this.stdin) return;
    this.starting ??= this.start().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async start(): Promise<void> {
    const core = this.kc.makeApiClient(CoreV1Api);
    const pods = (await core.listNamespacedPod({ namespace: this.target.namespace, labelSelector: this.target.labelSelector })).items;
    const pod = pods.find((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
    if (!pod) throw new Error(`the toolbox pod is not running yet (namespace ${this.target.namespace}): is the lab cluster up?`);
    const stdin = new PassThrough();
    const sink = new TerminalSink((b) => this.emitOutput(b));
    sink.setSize(this.size.cols, this.size.rows);
    const ws = await new Exec(this.kc).exec(this.target.namespace, pod.metadata!.name!, this.target.container, this.target.command, sink, null, stdin, true, (status) => {
      const code = status.status === 'Success' ? 0 : Number(status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message ?? NaN);
      this.ended(Number.isNaN(code) ? undefined : code);
    });
    ws.on('close', () => this.ended(undefined));
    this.conn = ws;
    this.stdin = stdin;
    this.sink = sink;
  }

  private ended(code: number | undefined): void {
    if (!this.stdin) return;
    this.stdin.end();
    this.stdin = undefined;
    this.sink = undefined;
    for (const v of this.viewers) v.exited(code);
  }

  private emitOutput(b: Buffer): void {
    this.lastActivity = Date.now();
    this.replay.push(b);
    for (const v of this.viewers) v.output(b);
  }

  async input(data: string): Promise<void> {
    this.lastActivity = Date.now();
    if (!this.stdin) await this.ensureStarted();
    this.stdin!.write(data);
  }

  /** The terminal size the shell runs at (the learner's last resize). */
  get dimensions(): { cols: number; rows: number } {
    return { ...this.size };
  }

  resize(cols: number, rows: number): void {
    const changed = cols !== this.size.cols || rows !== this.size.rows;
    this.size = { cols, rows };
    this.sink?.setSize(cols, rows);
    if (changed) for (const v of this.viewers) v.resized?.(cols, rows);
  }

  close(): void {
    this.stdin?.end();
    this.stdin = undefined;
    const conn = this.conn;
    this.conn = undefined;
    if (conn) {
      conn.close();
      setTimeout(() => conn.terminate?.(), 1000).unref();
    }
  }
}
