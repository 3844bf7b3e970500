// What one set or map holds, so that a sync writes only the elements that changed
// (upstream's nftElementStorage): a full sync starts from what nft lists (or flushes the
// container when that failed), every sync ensures the elements it wants, and what no
// service asked for is deleted at the end.
import { joinKey, type ElementObj, type Transaction } from './transaction.ts';

export class ElementStorage {
  /** Key (" . "-joined) → value (" . "-joined; "" for a set). */
  private readonly elements = new Map<string, string>();
  private leftover = new Set<string>();

  constructor(
    readonly kind: 'set' | 'map',
    readonly name: string,
  ) {}

  /**
   * Starts a full sync from the container's current elements; `current` null means they
   * could not be read: the container is flushed in `tx` and written from scratch.
   */
  readOrReset(tx: Transaction, current: Map<string, string> | null): void {
    this.elements.clear();
    if (current === null) tx.flush({ kind: this.kind, name: this.name });
    else for (const [k, v] of current) this.elements.set(k, v);
    this.leftover = new Set(this.elements.keys());
  }

  ensure(tx: Transaction, key: string[], value: string[] = [], comment?: string): void {
    const k = joinKey(key);
    const v = joinKey(value);
    const existing = this.elements.get(k);
    if (existing === v) {
      this.leftover.delete(k);
      return;
    }
    const elem: ElementObj = { kind: 'element', container: this.name, key, value, ...(comment !== undefined ? { comment } : {}) };
    if (existing === undefined) {
      tx.add(elem);
      this.elements.set(k, v);
      return;
    }
    // A map element's value cannot be changed by "add": delete and re-add it.
    tx.delete(elem);
    tx.add(elem);
    this.elements.set(k, v);
    this.leftover.delete(k);
  }

  /** Deletes every element no ensure() asked for since the last cleanup (or read). */
  cleanupLeftovers(tx: Transaction): void {
    for (const k of [...this.leftover].sort()) {
      tx.delete({ kind: 'element', container: this.name, key: k.split(' . '), value: [] });
      this.elements.delete(k);
    }
    this.leftover = new Set(this.elements.keys());
  }

  get size(): number {
    return this.elements.size;
  }

  /** Forgets everything (a failed transaction left the kernel's state unknown). */
  clear(): void {
    this.elements.clear();
    this.leftover.clear();
  }
}
