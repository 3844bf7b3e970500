/**
 * kind-style progress lines: " • step ..." while it runs, then " ✓ step" or " ✗ step".
 * On a terminal the running line is rewritten in place with a spinner.
 */
export class Status {
  private current?: { msg: string; started: number; timer?: NodeJS.Timeout };
  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {}

  start(msg: string): void {
    this.end(true);
    this.current = { msg, started: Date.now() };
    if (this.quiet) return;
    if (this.out.isTTY) {
      const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
      let i = 0;
      const draw = () => this.out.write(`\r ${frames[i++ % frames.length]} ${msg} `);
      draw();
      this.current.timer = setInterval(draw, 100);
      this.current.timer.unref();
    } else {
      this.out.write(` • ${msg} ...\n`);
    }
  }

  /** Ends the running step; `ok` picks ✓ or ✗. Does nothing if no step is running. */
  end(ok: boolean): void {
    const cur = this.current;
    if (!cur) return;
    this.current = undefined;
    if (cur.timer) clearInterval(cur.timer);
    if (this.quiet) return;
    const secs = (Date.now() - cur.started) / 1000;
    const took = secs >= 1 ? ` (${secs.toFixed(secs < 10 ? 1 : 0)}s)` : '';
    const line = ` ${ok ? '✓' : '✗'} ${cur.msg}${took}`;
    this.out.write(this.out.isTTY ? `\r${line}\x1b[K\n` : `${line}\n`);
  }

  /** Runs fn as a step. */
  async step<T>(msg: string, fn: () => Promise<T>): Promise<T> {
    this.start(msg);
    try {
      const v = await fn();
      this.end(true);
      return v;
    } catch (err) {
      this.end(false);
      throw err;
    }
  }

  info(msg: string): void {
    if (this.quiet) return;
    const cur = this.current;
    if (cur && this.out.isTTY) this.out.write('\r\x1b[K');
    this.out.write(`${msg}\n`);
  }
}
