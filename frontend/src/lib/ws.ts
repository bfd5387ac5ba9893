// /api/ws client (spec §5.1): binary input frames out, JSON status events in.
// Heartbeat [0] every 10 s; reconnect every 3 s; close code 4401 = session ended
// (no reconnect, the caller goes to the login page).

export const HEARTBEAT_MS = 10_000;
export const RECONNECT_MS = 3_000;
export const SESSION_ENDED = 4401;

export type SocketState = 'connecting' | 'open' | 'closed' | 'ended';

export interface LedStatus {
  numLock: boolean;
  capsLock: boolean;
  scrollLock: boolean;
  known: boolean;
  updatedAt?: string;
}

export interface CaptureStatus {
  ok: boolean;
  result: number;
  message: string;
  mode: string;
  severity: string;
}

export interface SocketEvents {
  onState?: (s: SocketState) => void;
  onLeds?: (l: LedStatus) => void;
  onCapture?: (c: CaptureStatus) => void;
  onEvent?: (type: string, data: unknown) => void;
  /** Close code 4401: the session is over. */
  onSessionEnded?: () => void;
}

type WsCtor = new (url: string) => WebSocket;

export function wsUrl(loc: { protocol: string; host: string } = location, path = '/api/ws'): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}${path}`;
}

/** Decodes a server text frame {"type", "data": "<JSON string>"}; null if malformed. */
export function parseEvent(text: string): { type: string; data: unknown } | null {
  try {
    const m = JSON.parse(text);
    if (!m || typeof m.type !== 'string') return null;
    const data = typeof m.data === 'string' ? JSON.parse(m.data) : m.data;
    return { type: m.type, data };
  } catch {
    return null;
  }
}

export class KvmSocket {
  private ws: WebSocket | null = null;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  state: SocketState = 'closed';

  constructor(
    private readonly events: SocketEvents,
    private readonly url: string = wsUrl(),
    private readonly Impl: WsCtor = WebSocket,
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Closes for good (unmount). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    clearInterval(this.heartbeat);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onclose = ws.onmessage = ws.onerror = null;
      try {
        ws.close(1000);
      } catch {
        /* already closing */
      }
    }
    this.setState('closed');
  }

  /** Sends a binary frame; false when not connected (input is dropped, not queued). */
  send(frame: Uint8Array): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1 /* OPEN */) return false;
    ws.send(frame);
    return true;
  }

  private setState(s: SocketState) {
    if (this.state === s) return;
    this.state = s;
    this.events.onState?.(s);
  }

  private connect() {
    if (this.stopped) return;
    this.setState('connecting');
    let ws: WebSocket;
    try {
      ws = new this.Impl(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      this.setState('open');
      clearInterval(this.heartbeat);
      this.heartbeat = setInterval(() => this.send(Uint8Array.of(0)), HEARTBEAT_MS);
    };
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data !== 'string') return;
      const ev = parseEvent(e.data);
      if (!ev) return;
      this.events.onEvent?.(ev.type, ev.data);
      if (ev.type === 'hid-led-status') this.events.onLeds?.(ev.data as LedStatus);
      else if (ev.type === 'capture-status') this.events.onCapture?.(ev.data as CaptureStatus);
    };
    ws.onclose = (e: CloseEvent) => {
      clearInterval(this.heartbeat);
      if (this.ws !== ws) return;
      this.ws = null;
      if (e.code === SESSION_ENDED) {
        this.stopped = true;
        this.setState('ended');
        this.events.onSessionEnded?.();
        return;
      }
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      /* a close event follows */
    };
  }

  private scheduleReconnect() {
    if (this.stopped) return;
    this.setState('closed');
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.connect(), RECONNECT_MS);
  }
}
