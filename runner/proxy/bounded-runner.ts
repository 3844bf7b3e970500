// Upstream's BoundedFrequencyRunner (pkg/proxy/runner): runs fn when asked, but at most
// once per minInterval; again after retryInterval when it fails; at least every maxInterval.

export class BoundedFrequencyRunner {
  private requested = false;
  private stopped = false;
  /** Ends the current sleep early; set only while sleeping. */
  private interrupt: ((byRun: boolean) => void) | null = null;

  constructor(
    private readonly fn: () => Promise<boolean>,
    private readonly minIntervalMs: number,
    private readonly retryIntervalMs: number,
    private readonly maxIntervalMs: number,
  ) {}

  /** Asks for a run as soon as the rate limit allows; requests coalesce. */
  run(): void {
    this.requested = true;
    this.interrupt?.(true);
  }

  stop(): void {
    this.stopped = true;
    this.interrupt?.(false);
  }

  /** Sleeps ms; a run() request ends the sleep only when `wakeOnRun`. */
  private sleep(ms: number, wakeOnRun: boolean): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.interrupt = null;
        resolve();
      };
      const timer = setTimeout(finish, Math.max(0, ms));
      this.interrupt = (byRun) => {
        if (!byRun || wakeOnRun) finish();
      };
    });
  }

  async loop(): Promise<void> {
    let deadline = Date.now() + this.maxIntervalMs;
    while (!this.stopped) {
      if (!this.requested && Date.now() < deadline) {
        await this.sleep(deadline - Date.now(), true);
        continue;
      }
      this.requested = false;
      let ok: boolean;
      try {
        ok = await this.fn();
      } catch {
        ok = false;
      }
      deadline = Date.now() + (ok ? this.maxIntervalMs : Math.min(this.retryIntervalMs, this.maxIntervalMs));
      if (!this.stopped) await this.sleep(this.minIntervalMs, false);
    }
  }
}
