import type { WebSocket } from 'ws';
import type { Shell, ShellViewer } from './shell.ts';

/** Client -> server control messages (text frames, JSON). */
export type ClientMessage =
  | { type: 'input'; data: string }
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'ack'; bytes: number }
  | { type: 'ping' };

/** Server -> client control messages (text frames, JSON); terminal output travels as binary frames. */
export type ServerMessage =
  | { type: 'ready'; replayed: number }
  | { type: 'exit'; code?: number }
  | { type: 'error'; message: string }
  | { type: 'pong' }
  | { type: 'skipped'; bytes: number }
  /** To a tab that may not resize (a shadowing instructor): the size the shell draws at. */
  | { type: 'size'; cols: number; rows: number };

/** Unacknowledged output a tab may have in flight before the gateway stops sending to it. */
export const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 128 * 1024;
/** While skipping, the newest output kept for the tab, so that it ends on the screen as it really is (the prompt, the last lines). */
const TAIL = 64 * 1024;

export function parseClientMessage(raw: string): ClientMessage | undefined {
  let m: unknown;
  try {
    m = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null) return undefined;
  const o = m as Record<string, unknown>;
  switch (o.type) {
    case 'input':
      return typeof o.data === 'string' && o.data.length <= 16384 ? { type: 'input', data: o.data } : undefined;
    case 'resize': {
      const cols = Number(o.cols);
      const rows = Number(o.rows);
      return Number.isInteger(cols) && Number.isInteger(rows) && cols > 0 && rows > 0 && cols <= 1000 && rows <= 500 ? { type: 'resize', cols, rows } : undefined;
    }
    case 'ack':
      return Number.isFinite(Number(o.bytes)) && Number(o.bytes) >= 0 ? { type: 'ack', bytes: Number(o.bytes) } : undefined;
    case 'ping':
      return { type: 'ping' };
    default:
      return undefined;
  }
}

/**
 * Connects one browser tab to a learner's shell: replays the screen, forwards input and
 * resizes, and applies flow control so a flood (`yes`, a huge iptables-save) never
 * freezes the page — past HIGH_WATER unacknowledged bytes the tab is skipped ahead and
 * told how much it missed.
 */
/** What a tab may do; read on every message, so an instructor's take-over can flip `input`. */
export interface TabAccess {
  input: boolean;
  resize: boolean;
}

/**
 * How often the gateway sends a WebSocket ping frame to an idle tab, so that proxies and
 * load balancers that cut idle connections (commonly after 30–60 s) see traffic.
 */
export const KEEPALIVE_MS = 20_000;

export function attachTab(ws: WebSocket, shell: Shell, access: TabAccess = { input: true, resize: true }, keepaliveMs = KEEPALIVE_MS): void {
  let unacked = 0;
  let skipped = 0;
  let tail: Buffer[] = [];
  let tailBytes = 0;
  const send = (m: ServerMessage) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(m));
  const sendOutput = (b: Buffer) => {
    if (ws.readyState !== ws.OPEN) return;
    if (unacked > HIGH_WATER) {
      skipped += b.length;
      tail.push(b);
      tailBytes += b.length;
      while (tailBytes - tail[0]!.length >= TAIL) tailBytes -= tail.shift()!.length;
      return;
    }
    unacked += b.length;
    ws.send(b, { binary: true });
  };
  const viewer: ShellViewer = {
    output: sendOutput,
    exited: (code) => send({ type: 'exit', code }),
    resized: (cols, rows) => !access.resize && send({ type: 'size', cols, rows }),
  };
  if (!access.resize) send({ type: 'size', ...shell.dimensions });

  const replay = shell.replay.snapshot();
  if (replay.length) sendOutput(replay);
  send({ type: 'ready', replayed: replay.length });
  const detach = shell.attach(viewer);
  shell.ensureStarted().catch((err: Error) => send({ type: 'error', message: err.message }));

  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const m = parseClientMessage(data.toString());
    if (!m) return send({ type: 'error', message: 'malformed message ignored' });
    switch (m.type) {
      case 'input':
        if (access.input) shell.input(m.data).catch((err: Error) => send({ type: 'error', message: err.message }));
        break;
      case 'resize':
        if (access.resize) shell.resize(m.cols, m.rows);
        break;
      case 'ack':
        unacked = Math.max(0, unacked - m.bytes);
        if (skipped > 0 && unacked < LOW_WATER) {
          const kept = Buffer.concat(tail);
          send({ type: 'skipped', bytes: skipped - kept.length });
          skipped = 0;
          tail = [];
          tailBytes = 0;
          sendOutput(kept);
        }
        break;
      case 'ping':
        send({ type: 'pong' });
        break;
    }
  });
  const alive = setInterval(() => ws.readyState === ws.OPEN && ws.ping(), keepaliveMs);
  ws.on('close', () => {
    clearInterval(alive);
    detach();
  });
  ws.on('error', () => ws.close());
}
