// --proxy-port-range (upstream utilnet.PortRange and the userspace proxier's port
// allocator): the host ports the proxy may listen on, one per service port. Unset, 0 or
// 0-0: none reserved, the kernel picks an ephemeral port for each socket.

export interface PortRange {
  base: number;
  size: number;
}

/**
 * Parses "begin-end", "begin+offset" or a single port, inclusive (upstream PortRange.Set).
 * Returns null for an unset range (ephemeral ports), or an error message.
 */
export function parsePortRange(raw: string): PortRange | null | { error: string } {
  const value = raw.trim();
  if (value === '') return null;
  const hyphen = value.indexOf('-');
  const plus = value.indexOf('+');
  const int = (s: string) => (/^\d+$/.test(s) ? Number(s) : NaN);
  let low: number;
  let high: number;
  if (hyphen < 0 && plus < 0) {
    low = high = int(value);
  } else if (hyphen >= 0 && plus < 0) {
    low = int(value.slice(0, hyphen));
    high = int(value.slice(hyphen + 1));
  } else if (plus >= 0 && hyphen < 0) {
    low = int(value.slice(0, plus));
    high = low + int(value.slice(plus + 1));
  } else {
    return { error: `--proxy-port-range ${JSON.stringify(raw)}: expected begin-end, begin+offset or a single port` };
  }
  if (Number.isNaN(low) || Number.isNaN(high)) return { error: `--proxy-port-range ${JSON.stringify(raw)}: expected begin-end, begin+offset or a single port, e.g. 30000-30999` };
  if (low > 65535 || high > 65535) return { error: `--proxy-port-range ${JSON.stringify(raw)}: the port range cannot be greater than 65535` };
  if (high < low) return { error: `--proxy-port-range ${JSON.stringify(raw)}: end port cannot be less than start port` };
  // Upstream: a range starting at 0 means "random ports".
  if (low === 0) return null;
  return { base: low, size: high - low + 1 };
}

/**
 * Hands out the ports of a range (upstream rangeAllocator): a random free port first,
 * then the next free ones after it, wrapping around. null when every port is taken.
 */
export class PortRangeAllocator {
  private readonly used = new Set<number>();

  constructor(
    readonly range: PortRange,
    private readonly random: () => number = Math.random,
  ) {}

  allocate(): number | null {
    const { base, size } = this.range;
    if (this.used.size >= size) return null;
    const start = Math.floor(this.random() * size);
    for (let i = 0; i < size; i++) {
      const port = base + ((start + i) % size);
      if (!this.used.has(port)) {
        this.used.add(port);
        return port;
      }
    }
    return null;
  }

  release(port: number): void {
    this.used.delete(port);
  }

  get inUse(): number {
    return this.used.size;
  }
}
