import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HEARTBEAT_MS, KvmSocket, RECONNECT_MS, parseEvent, wsUrl, type SocketState } from './ws';

class FakeWs {
  static all: FakeWs[] = [];
  readyState = 0;
  binaryType = 'blob';
  sent: Uint8Array[] = [];
  closedWith: number | null = null;
  onopen: (() => void) | null = null;
  onclose: ((e: { code: number }) => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeWs.all.push(this);
  }
  send(d: Uint8Array) {
    this.sent.push(d);
  }
  close(code: number) {
    this.closedWith = code;
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  serverClose(code: number) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
}

const last = () => FakeWs.all[FakeWs.all.length - 1];

function make(events: ConstructorParameters<typeof KvmSocket>[0] = {}) {
  return new KvmSocket(events, 'ws://kvm/api/ws', FakeWs as unknown as typeof WebSocket);
}

beforeEach(() => {
  FakeWs.all = [];
  vi.useFakeTimers();
});
afterEach(() => vi.useRealTimers());

describe('ws client', () => {
  it('url follows the page scheme and host', () => {
    expect(wsUrl({ protocol: 'http:', host: '10.0.0.2:8000' })).toBe('ws://10.0.0.2:8000/api/ws');
    expect(wsUrl({ protocol: 'https:', host: 'kvm.local' })).toBe('wss://kvm.local/api/ws');
  });

  it('decodes double-encoded events', () => {
    expect(parseEvent('{"type":"hid-led-status","data":"{\\"capsLock\\":true}"}')).toEqual({
      type: 'hid-led-status',
      data: { capsLock: true },
    });
    expect(parseEvent('not json')).toBeNull();
    expect(parseEvent('{"data":"{}"}')).toBeNull();
  });

  it('sends binary frames only while open, heartbeats every 10 s', () => {
    const states: SocketState[] = [];
    const s = make({ onState: (x) => states.push(x) });
    s.start();
    expect(s.send(Uint8Array.of(1))).toBe(false);
    last().open();
    expect(last().binaryType).toBe('arraybuffer');
    expect(s.send(Uint8Array.of(2, 0, 1, 1, 0))).toBe(true);
    vi.advanceTimersByTime(HEARTBEAT_MS * 2);
    expect(last().sent.map((f) => Array.from(f))).toEqual([[2, 0, 1, 1, 0], [0], [0]]);
    expect(states).toEqual(['connecting', 'open']);
    s.stop();
    expect(last().closedWith).toBe(1000);
    vi.advanceTimersByTime(HEARTBEAT_MS * 3);
    expect(last().sent).toHaveLength(3);
    expect(FakeWs.all).toHaveLength(1);
  });

  it('reconnects 3 s after an ordinary close, forever', () => {
    const s = make();
    s.start();
    last().open();
    last().serverClose(1006);
    expect(s.state).toBe('closed');
    vi.advanceTimersByTime(RECONNECT_MS - 1);
    expect(FakeWs.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeWs.all).toHaveLength(2);
    last().serverClose(1006); // never opened (e.g. 401 on the upgrade)
    vi.advanceTimersByTime(RECONNECT_MS);
    expect(FakeWs.all).toHaveLength(3);
    last().open();
    expect(s.state).toBe('open');
    s.stop();
  });

  it('4401 ends the session: no reconnect', () => {
    const ended = vi.fn();
    const s = make({ onSessionEnded: ended });
    s.start();
    last().open();
    last().serverClose(4401);
    expect(ended).toHaveBeenCalledTimes(1);
    expect(s.state).toBe('ended');
    vi.advanceTimersByTime(RECONNECT_MS * 5);
    expect(FakeWs.all).toHaveLength(1);
  });

  it('routes LED and capture events', () => {
    const leds = vi.fn();
    const capture = vi.fn();
    const s = make({ onLeds: leds, onCapture: capture });
    s.start();
    last().open();
    const led = { numLock: true, capsLock: false, scrollLock: false, known: true, updatedAt: 'x' };
    last().onmessage?.({ data: JSON.stringify({ type: 'hid-led-status', data: JSON.stringify(led) }) });
    last().onmessage?.({ data: JSON.stringify({ type: 'capture-status', data: JSON.stringify({ ok: false, result: -1, message: 'No image captured', mode: 'mjpeg', severity: 'error' }) }) });
    last().onmessage?.({ data: new ArrayBuffer(2) });
    last().onmessage?.({ data: '{broken' });
    expect(leds).toHaveBeenCalledWith(led);
    expect(capture).toHaveBeenCalledWith(expect.objectContaining({ ok: false, message: 'No image captured' }));
    s.stop();
  });
});
