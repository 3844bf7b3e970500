/**
 * The last `capacity` bytes a shell printed, so that a tab that (re)connects sees the
 * screen as it was instead of a blank one. Cut points are moved forward to a line start
 * when one is near, so the replay does not begin in the middle of an escape sequence.
 */
export class ReplayBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Total bytes ever written: lets a client ask for "everything after byte N". */
  written = 0;

  constructor(private readonly capacity = 256 * 1024) {}

  push(data: Buffer): void {
    this.chunks.push(data);
    this.size += data.length;
    this.written += data.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.capacity) {
      this.size -= this.chunks.shift()!.length;
    }
  }

  /** The buffered bytes, trimmed to the capacity and to a line start. */
  snapshot(): Buffer {
    let all = Buffer.concat(this.chunks);
    if (all.length > this.capacity) {
      all = all.subarray(all.length - this.capacity);
      const nl = all.indexOf(0x0a);
      if (nl >= 0 && nl < 4096) all = all.subarray(nl + 1);
    }
    return all;
  }
}
