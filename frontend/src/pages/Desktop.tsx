import { Suspense, lazy, useCallback, useEffect, useRef, useState } from 'react';
import { UnauthorizedError, errorText, sessionEnded } from '../lib/api';
import {
  canControl, getGpio, getHardware, getInfo, getLeds, getShortcuts, logout,
  type Account, type Gpio, type LedState, type Shortcut, type VmInfo,
} from '../lib/kvm';
import { KvmSocket, type CaptureStatus, type SocketState } from '../lib/ws';
import { comboReports, keyboardFrame } from '../lib/hid/keyboard';
import { Brand } from '../components/Brand';
import { PowerPanel } from '../components/PowerPanel';
import { Screen, type MouseMode } from '../components/Screen';
import { ScreenToolbar } from '../components/ScreenToolbar';
import { VIDEO_MODE_KEY, fallbackMode, initialMode, type VideoMode } from '../lib/video';
import { PasteDialog } from '../components/PasteDialog';
import type { Combo } from '../components/KeysMenu';
import { MediaPanel } from '../components/media/MediaPanel';

// noVNC is loaded only when someone opens the VNC view.
const VncView = lazy(() => import('../components/VncView'));

export const COMBO_HOLD_MS = 100;
const MOUSE_MODE_KEY = 'kvm-mouse-mode';

export const GPIO_POLL_MS = 1500;

interface Props {
  account: Account;
  onLoggedOut: () => void;
  onChangePassword: () => void;
  onSettings: () => void;
}

/** Polls GET /api/vm/gpio every GPIO_POLL_MS while mounted and the tab is visible. */
function useGpio() {
  const [gpio, setGpio] = useState<Gpio | null>(null);
  const [error, setError] = useState<string | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const alive = useRef(true);
  const inFlight = useRef(false);

  const poll = useCallback(async () => {
    clearTimeout(timer.current);
    if (!alive.current) return;
    if (!inFlight.current && !document.hidden) {
      inFlight.current = true;
      try {
        const g = await getGpio({ timeoutMs: 10_000 });
        if (alive.current) {
          setGpio({ pwr: !!g?.pwr, hdd: !!g?.hdd });
          setError(null);
        }
      } catch (e) {
        if (e instanceof UnauthorizedError) {
          alive.current = false; // App switches to the login page
          return;
        }
        if (alive.current) setError(errorText(e));
      } finally {
        inFlight.current = false;
      }
    }
    if (alive.current) timer.current = setTimeout(poll, GPIO_POLL_MS);
  }, []);

  useEffect(() => {
    alive.current = true;
    void poll();
    const onVis = () => !document.hidden && void poll();
    document.addEventListener('visibilitychange', onVis);
    return () => {
      alive.current = false;
      clearTimeout(timer.current);
      document.removeEventListener('visibilitychange', onVis);
    };
  }, [poll]);

  return { gpio, error, refresh: poll };
}

/** The /api/ws connection: input out, LED and capture status in. */
function useKvmSocket() {
  const sock = useRef<KvmSocket | null>(null);
  const [state, setState] = useState<SocketState>('connecting');
  const [leds, setLeds] = useState<LedState | null>(null);
  const [capture, setCapture] = useState<CaptureStatus | null>(null);
  const [reconnects, setReconnects] = useState(0);

  useEffect(() => {
    let live = true;
    let opened = false;
    const s = new KvmSocket({
      onState: (st) => {
        setState(st);
        if (st !== 'open') return;
        if (opened) setReconnects((n) => n + 1);
        opened = true;
      },
      onLeds: (l) => setLeds(l),
      onCapture: (c) => c.mode === 'mjpeg' && setCapture(c),
      onSessionEnded: sessionEnded,
    });
    sock.current = s;
    s.start();
    // the socket's snapshot wins if it is first
    getLeds().then((l) => live && setLeds((prev) => prev ?? l)).catch(() => {});
    return () => {
      live = false;
      s.stop();
      sock.current = null;
    };
  }, []);

  const send = useCallback((frame: Uint8Array) => sock.current?.send(frame) ?? false, []);
  const stop = useCallback(() => sock.current?.stop(), []);
  return { state, leds, capture, reconnects, send, stop };
}

export function DesktopPage({ account, onLoggedOut, onChangePassword, onSettings }: Props) {
  const { gpio, error: gpioError, refresh } = useGpio();
  const control = canControl(account.role);
  const ws = useKvmSocket();
  const [mouseMode, setMouseMode] = useState<MouseMode>(() =>
    localStorage.getItem(MOUSE_MODE_KEY) === 'relative' ? 'relative' : 'absolute');
  const [videoMode, setVideoMode] = useState<VideoMode>(() => initialMode(localStorage.getItem(VIDEO_MODE_KEY)));
  const [showStats, setShowStats] = useState(false);
  const [pasting, setPasting] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [shortcuts, setShortcuts] = useState<Shortcut[]>([]);
  const [vnc, setVnc] = useState(false);

  useEffect(() => {
    if (!control) return;
    let live = true;
    getShortcuts().then((s) => live && setShortcuts(s)).catch(() => {});
    return () => {
      live = false;
    };
  }, [control]);

  useEffect(() => {
    if (!notice) return;
    const t = setTimeout(() => setNotice(null), 4000);
    return () => clearTimeout(t);
  }, [notice]);

  const { send } = ws;
  const sendCombo = useCallback((c: Combo) => {
    const [press, release] = comboReports(c.codes);
    if (!send(keyboardFrame(press))) {
      setNotice('Not connected: keys not sent.');
      return;
    }
    setTimeout(() => send(keyboardFrame(release)), COMBO_HOLD_MS);
    setNotice(`Sent ${c.label}`);
  }, [send]);

  function changeVideoMode(m: VideoMode) {
    localStorage.setItem(VIDEO_MODE_KEY, m);
    setVideoMode(m);
  }

  // Not stored: once the board can stream H.264 again, the next visit uses it.
  const modeUnavailable = useCallback((m: VideoMode, reason: string) => {
    const next = fallbackMode(m);
    setVideoMode((current) => (current === m ? next : current));
    setNotice(`${reason || 'This video mode is not available'}: showing ${next === 'mjpeg' ? 'MJPEG' : next}.`);
  }, []);

  function changeMouseMode(m: MouseMode) {
    localStorage.setItem(MOUSE_MODE_KEY, m);
    setMouseMode(m);
  }

  const closePaste = useCallback((pasted: boolean) => {
    setPasting(false);
    if (pasted) setNotice('Text pasted.');
  }, []);
  const [info, setInfo] = useState<VmInfo | null>(null);
  const [hw, setHw] = useState<string | null>(null);
  const [loggingOut, setLoggingOut] = useState(false);

  useEffect(() => {
    let live = true;
    getInfo().then((i) => live && setInfo(i)).catch(() => {});
    getHardware().then((h) => live && setHw(h?.version ?? null)).catch(() => {});
    return () => {
      live = false;
    };
  }, []);

  async function doLogout() {
    setLoggingOut(true);
    ws.stop(); // the server ends the socket with 4401 on logout: not a lost session
    try {
      await logout();
    } catch {
      /* session may already be gone; go to login regardless */
    }
    onLoggedOut();
  }

  const host = info?.mdns || info?.ips?.[0]?.addr || '';

  return (
    <div className="desktop">
      <header className="topbar">
        <Brand small />
        {host && <span className="host muted" title="Device">{host}</span>}
        <span className="spacer" />
        <span className="user" data-testid="user">
          {account.username} <span className={`role ${account.role}`}>{account.role}</span>
        </span>
        <button className="btn ghost" onClick={onSettings}>Settings</button>
        <button className="btn ghost" onClick={onChangePassword}>Change password</button>
        <button className="btn ghost" onClick={doLogout} disabled={loggingOut}>
          {loggingOut ? 'Logging out…' : 'Log out'}
        </button>
      </header>

      <main className="workspace">
        <div className="screen-col">
          <ScreenToolbar
            leds={ws.leds}
            socket={ws.state}
            control={control}
            mouseMode={mouseMode}
            onMouseMode={changeMouseMode}
            onPaste={() => setPasting(true)}
            shortcuts={shortcuts}
            onCombo={sendCombo}
            notice={notice}
            vnc={vnc}
            onVnc={setVnc}
            videoMode={videoMode}
            onVideoMode={changeVideoMode}
            showStats={showStats}
            onShowStats={setShowStats}
            canRecord={account.role === 'admin'}
          />
          {vnc ? (
            <Suspense fallback={<p className="muted">Loading the VNC viewer…</p>}>
              <VncView control={control} />
            </Suspense>
          ) : (
            <Screen
              send={send}
              control={control}
              mouseMode={mouseMode}
              signalError={ws.capture && !ws.capture.ok ? ws.capture.message || 'Capture failed' : null}
              hostOn={gpio ? gpio.pwr : null}
              streamEpoch={ws.reconnects}
              videoMode={videoMode}
              showStats={showStats}
              onUnavailable={modeUnavailable}
            />
          )}
        </div>
        <aside className="sidebar">
          <PowerPanel gpio={gpio} gpioError={gpioError} controls={control} onPressed={refresh} />
          <MediaPanel account={account} />
          {info && (
            <section className="card panel" aria-label="Device">
              <h2>Device</h2>
              <dl className="facts">
                {info.ips?.map((ip) => (
                  <Fact key={ip.name + ip.addr} k={`${ip.name} (${ip.type})`} v={ip.addr} />
                ))}
                {info.mdns && <Fact k="mDNS" v={info.mdns} />}
                {hw && <Fact k="Hardware" v={hw} />}
              </dl>
            </section>
          )}
        </aside>
      </main>

      {pasting && <PasteDialog onClose={closePaste} />}

      <footer className="footer muted" data-testid="footer">
        {info ? (
          <>
            <span>Application v{info.application}</span>
            {info.image && <span>Image {info.image}</span>}
            {hw && <span>Hardware {hw}</span>}
          </>
        ) : (
          <span>&nbsp;</span>
        )}
      </footer>
    </div>
  );
}

function Fact({ k, v }: { k: string; v: string }) {
  return (
    <>
      <dt>{k}</dt>
      <dd>{v}</dd>
    </>
  );
}
