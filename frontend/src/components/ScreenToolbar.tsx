import type { LedState } from '../lib/kvm';
import type { SocketState } from '../lib/ws';
import type { MouseMode } from './Screen';
import { KeysMenu, type Combo } from './KeysMenu';
import { RecordControl } from './RecordControl';
import type { Shortcut } from '../lib/kvm';
import { VIDEO_MODES, supported, type VideoMode } from '../lib/video';

const MODE_TEXT: Record<VideoMode, [string, string]> = {
  webrtc: ['H.264', 'H.264 over WebRTC (the least bandwidth and delay)'],
  direct: ['Direct', 'H.264 over a WebSocket, decoded by the browser (WebCodecs)'],
  mjpeg: ['MJPEG', 'Motion JPEG: works everywhere, costs the most bandwidth'],
};

interface Props {
  leds: LedState | null;
  socket: SocketState;
  control: boolean;
  mouseMode: MouseMode;
  onMouseMode: (m: MouseMode) => void;
  onPaste: () => void;
  shortcuts: Shortcut[];
  onCombo: (c: Combo) => void;
  notice: string | null;
  vnc: boolean; // the screen shows noVNC instead of the MJPEG picture
  onVnc: (on: boolean) => void;
  videoMode: VideoMode;
  onVideoMode: (m: VideoMode) => void;
  showStats: boolean;
  onShowStats: (on: boolean) => void;
  canRecord: boolean; // admins: /recording is admin-only
}

const SOCKET_TEXT: Record<SocketState, string> = {
  connecting: 'Connecting…',
  open: 'Connected',
  closed: 'Reconnecting…',
  ended: 'Session ended',
};

export function ScreenToolbar(p: Props) {
  const known = !!p.leds?.known;
  const led = (name: string, on: boolean | undefined, id: string) => {
    const state = !known ? 'unknown' : on ? 'on' : 'off';
    return (
      <span className={`kbd-led ${state}`} data-testid={id} data-state={state} title={`${name} Lock: ${state}`}>
        {name}
      </span>
    );
  };
  return (
    <div className="screen-toolbar" role="toolbar" aria-label="Screen">
      <span className="kbd-leds" role="status" aria-label="Keyboard LEDs">
        {led('Num', p.leds?.numLock, 'kbd-led-num')}
        {led('Caps', p.leds?.capsLock, 'kbd-led-caps')}
        {led('Scroll', p.leds?.scrollLock, 'kbd-led-scroll')}
      </span>
      <span className={`ws-state ${p.socket}`} data-testid="ws-state" data-state={p.socket}>
        <span className="dot" aria-hidden="true" /> {SOCKET_TEXT[p.socket]}
      </span>
      {p.notice && <span className="muted small" role="status">{p.notice}</span>}
      <span className="spacer" />
      {p.canRecord && <RecordControl />}
      <button className={`btn small${p.vnc ? ' active' : ''}`} aria-pressed={p.vnc} onClick={() => p.onVnc(!p.vnc)}
        title="Show the screen through noVNC (RFB over this page's connection) instead of the MJPEG stream">
        {p.vnc ? 'Close VNC' : 'Open in VNC'}
      </button>
      {!p.vnc && (
        <>
          <div className="seg" role="group" aria-label="Video mode">
            {VIDEO_MODES.filter(supported).map((m) => (
              <button
                key={m}
                className={`btn small${p.videoMode === m ? ' active' : ''}`}
                aria-pressed={p.videoMode === m}
                onClick={() => p.onVideoMode(m)}
                title={MODE_TEXT[m][1]}
              >
                {MODE_TEXT[m][0]}
              </button>
            ))}
          </div>
          <button
            className={`btn small${p.showStats ? ' active' : ''}`}
            aria-pressed={p.showStats}
            onClick={() => p.onShowStats(!p.showStats)}
            title="Frame rate, bitrate and delay, measured"
          >
            Stats
          </button>
        </>
      )}
      {p.control && !p.vnc ? (
        <>
          <div className="seg" role="group" aria-label="Mouse mode">
            {(['absolute', 'relative'] as const).map((m) => (
              <button
                key={m}
                className={`btn small${p.mouseMode === m ? ' active' : ''}`}
                aria-pressed={p.mouseMode === m}
                onClick={() => p.onMouseMode(m)}
                title={m === 'absolute' ? 'The host pointer follows yours' : 'Pointer lock: the mouse moves the host pointer by deltas'}
              >
                {m === 'absolute' ? 'Absolute' : 'Relative'}
              </button>
            ))}
          </div>
          <button className="btn small" onClick={p.onPaste}>Paste text</button>
          <KeysMenu shortcuts={p.shortcuts} onCombo={p.onCombo} />
        </>
      ) : p.control ? null : (
        <span className="muted small">View only</span>
      )}
    </div>
  );
}
