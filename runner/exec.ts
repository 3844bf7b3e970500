import { spawn } from 'node:child_process';

/** A command that failed; keeps the command line and its output for the error report. */
export class RunError extends Error {
  override readonly name = 'RunError';
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly output: string,
  ) {
    super(`${command} failed (exit ${exitCode ?? 'signal'}): ${lastLines(output, 3) || 'no output'}`);
  }
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Kill the command after this many milliseconds. */
  timeoutMs?: number;
  /** Receives each line of stdout and stderr as it comes (for logs and progress). */
  onLine?: (line: string) => void;
  /** Don't throw on a non-zero exit; the caller reads `code`. */
  allowFailure?: boolean;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program (no shell) and collects its output. Throws RunError on failure. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let combined = '';
    let partial = '';
    const feed = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      combined += text;
      if (combined.length > 1_000_000) combined = combined.slice(-500_000);
      if (opts.onLine) {
        partial += text;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) opts.onLine(l);
      }
    };
    child.stdout.on('data', (c: Buffer) => {
      out.push(c);
      feed(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      err.push(c);
      feed(c);
    });
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) {
      timer = setTimeout(() => {
        combined += `\n(killed after ${Math.round(opts.timeoutMs! / 1000)} s)`;
        child.kill('SIGKILL');
      }, opts.timeoutMs);
    }
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      reject(e.code === 'ENOENT' ? new RunError(`${cmd}`, null, `${cmd}: command not found`) : e);
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      if (partial && opts.onLine) opts.onLine(partial);
      const result = { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
      if (code !== 0 && !opts.allowFailure) reject(new RunError([cmd, ...args].join(' '), code, combined));
      else resolve(result);
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** True if `cmd` can be found on PATH. */
export async function commandExists(cmd: string): Promise<boolean> {
  const r = await run('sh', ['-c', `command -v ${cmd}`], { allowFailure: true });
  return r.code === 0;
}

export function lastLines(text: string, n: number): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-n)
    .join(' | ');
}
