import type { WebSocket } from 'ws';

/** A hub that fans JSON events out to the WebSockets of one learner (or of instructors). */
export class EventHub<E extends { type: string }> {
  private sockets = new Map<string, Set<WebSocket>>();
  /** The last event of each (topic, type), replayed to a socket when it joins. */
  private last = new Map<string, Map<string, E>>();
  /** Called when a socket joins or leaves a topic. */
  onMembership?: (topic: string) => void;

  join(topic: string, ws: WebSocket): void {
    let set = this.sockets.get(topic);
    if (!set) this.sockets.set(topic, (set = new Set()));
    set.add(ws);
    for (const e of this.last.get(topic)?.values() ?? []) ws.send(JSON.stringify(e));
    this.onMembership?.(topic);
    const alive = setInterval(() => ws.readyState === ws.OPEN && ws.ping(), 20_000);
    ws.on('close', () => {
      clearInterval(alive);
      set!.delete(ws);
      this.onMembership?.(topic);
    });
    ws.on('error', () => ws.close());
  }

  /** Sends to everyone on the topic; `key` (default: the event type) decides what is remembered for late joiners. */
  publish(topic: string, e: E, key: string = e.type): void {
    let mem = this.last.get(topic);
    if (!mem) this.last.set(topic, (mem = new Map()));
    mem.set(key, e);
    const text = JSON.stringify(e);
    for (const ws of this.sockets.get(topic) ?? []) if (ws.readyState === ws.OPEN) ws.send(text);
  }

  count(topic: string): number {
    return this.sockets.get(topic)?.size ?? 0;
  }
}
