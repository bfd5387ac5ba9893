import { useEffect, useRef, useState } from 'react';
import { isMapped } from '../lib/hid/keymap';
import { KeyboardState, keyboardFrame } from '../lib/hid/keyboard';
import {
  WheelThrottle, absPosition, absoluteFrame, containRect, hidButtons, relativeFrame,
} from '../lib/hid/mouse';
import {
  StatsMeter, measureLatency, startDirect, startWebRtc, type Player, type VideoMode, type VideoStats,
} from '../lib/video';

export type MouseMode = 'absolute' | 'relative';
export const VIDEO_RETRY_MS = 2000;

interface Props {
  /** Sends a binary /api/ws frame; false when the socket is down. */
  send: (frame: Uint8Array) => boolean;
  /** Keyboard and mouse go to the host (not for viewers). */
  control: boolean;
  mouseMode: MouseMode;
  /** Capture problem reported by the server (capture-status), or null. */
  signalError: string | null;
  hostOn: boolean | null;
  /** Bumped when the status socket reconnects: the server may have restarted, so restart the stream too. */
  streamEpoch?: number;
  /** How the picture comes: H.264 over WebRTC, H.264 decoded with WebCodecs, or MJPEG. */
  videoMode?: VideoMode;
  /** Show the measured frame rate, bitrate and glass-to-glass delay. */
  showStats?: boolean;
  /** The server cannot stream ``videoMode`` (no H.264 on the board): the page picks another. */
  onUnavailable?: (mode: VideoMode, reason: string) => void;
}

type Media = HTMLImageElement | HTMLVideoElement | HTMLCanvasElement;

/** The picture's own size, whichever element shows it. */
function mediaSize(el: Media): [number, number] {
  if (el instanceof HTMLImageElement) return [el.naturalWidth, el.naturalHeight];
  if (el instanceof HTMLVideoElement) return [el.videoWidth, el.videoHeight];
  return [el.width, el.height];
}

/**
 * The remote screen: the MJPEG stream in an <img> letterboxed into the box, and
 * (for users who may control the host) keyboard and mouse capture while focused.
 */
export function Screen({
  send, control, mouseMode, signalError, hostOn, streamEpoch = 0, videoMode = 'mjpeg', showStats = false,
  onUnavailable,
}: Props) {
  const boxRef = useRef<HTMLElement>(null);
  const imgRef = useRef<HTMLImageElement>(null);
  const videoRef = useRef<HTMLVideoElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const meter = useRef(new StatsMeter());
  const [stats, setStats] = useState<VideoStats | null>(null);
  const [version, setVersion] = useState(() => Date.now() % 1e6);
  const [loaded, setLoaded] = useState(false);
  const [failed, setFailed] = useState(false);
  const [focused, setFocused] = useState(false);
  const [locked, setLocked] = useState(false);

  // Latest props for the native listeners.
  const sendRef = useRef(send);
  sendRef.current = send;
  const modeRef = useRef(mouseMode);
  modeRef.current = mouseMode;
  const unavailableRef = useRef(onUnavailable);
  unavailableRef.current = onUnavailable;

  const kb = useRef(new KeyboardState());
  const mouse = useRef({ buttons: 0, x: -1, y: -1 });

  // --- video: reconnect the <img> after an error --------------------------------------------
  useEffect(() => {
    if (!failed) return;
    const t = setTimeout(() => {
      setFailed(false);
      setVersion((v) => v + 1);
    }, VIDEO_RETRY_MS);
    return () => clearTimeout(t);
  }, [failed]);

  // Chrome fires `load` only for the first part of a multipart image, so a stream that ended
  // quietly cannot be seen from here; a reconnected socket is the hint to reopen it.
  useEffect(() => {
    if (!streamEpoch) return;
    setLoaded(false);
    setFailed(false);
    setVersion((v) => v + 1);
  }, [streamEpoch]);

  // Abort the stream when leaving the page (an <img> removed from the DOM may keep loading).
  useEffect(() => {
    const img = imgRef.current;
    return () => img?.removeAttribute('src');
  }, [videoMode]);

  // H.264: a player per mode and attempt; a broken stream is restarted like the <img>.
  useEffect(() => {
    if (videoMode === 'mjpeg') return;
    setLoaded(false);
    let playing = false;
    const events = {
      meter: meter.current,
      onPlaying: () => {
        if (playing) return;
        playing = true;
        setLoaded(true);
        setFailed(false);
      },
      onError: () => {
        setLoaded(false);
        setFailed(true);
      },
      onEnded: () => setLoaded(false),
      onUnavailable: (reason: string) => unavailableRef.current?.(videoMode, reason),
    };
    let player: Player;
    try {
      player = videoMode === 'webrtc'
        ? startWebRtc(videoRef.current!, events)
        : startDirect(canvasRef.current!, events);
    } catch {
      setFailed(true);
      return;
    }
    return () => player.stop();
  }, [videoMode, version]);

  // Measured rates and the delay read back from the sim screen's painted clock, once a second.
  useEffect(() => {
    if (!showStats) {
      setStats(null);
      return;
    }
    const t = setInterval(() => {
      const el = mediaRef();
      const taken = meter.current.take();
      if (el) {
        const [w, h] = mediaSize(el);
        try {
          taken.latencyMs = measureLatency(el, w, h);
        } catch {
          taken.latencyMs = null;
        }
      }
      setStats(taken);
    }, 1000);
    return () => clearInterval(t);
  }, [showStats, videoMode]);

  function mediaRef(): Media | null {
    if (videoMode === 'webrtc') return videoRef.current;
    if (videoMode === 'direct') return canvasRef.current;
    return imgRef.current;
  }

  // --- input ------------------------------------------------------------------------------
  function releaseAll() {
    const r = kb.current.releaseAll();
    if (r) sendRef.current(keyboardFrame(r));
    const m = mouse.current;
    if (m.buttons) {
      m.buttons = 0;
      sendRef.current(modeRef.current === 'absolute' && m.x > 0
        ? absoluteFrame(0, m.x, m.y)
        : relativeFrame(0, 0, 0));
    }
  }
  const releaseRef = useRef(releaseAll);
  releaseRef.current = releaseAll;

  useEffect(() => {
    if (!control) return;
    const box = boxRef.current!;
    const onVisibility = () => document.hidden && releaseRef.current();
    const onLockChange = () => setLocked(document.pointerLockElement === box);
    const wheel = new WheelThrottle();
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      const step = wheel.take(e.deltaY, e.timeStamp);
      if (!step) return;
      const m = mouse.current;
      if (modeRef.current === 'absolute') {
        if (m.x > 0) sendRef.current(absoluteFrame(m.buttons, m.x, m.y, step));
      } else if (document.pointerLockElement === box) {
        sendRef.current(relativeFrame(m.buttons, 0, 0, step));
      }
    };
    document.addEventListener('visibilitychange', onVisibility);
    document.addEventListener('pointerlockchange', onLockChange);
    box.addEventListener('wheel', onWheel, { passive: false });
    return () => {
      releaseRef.current();
      document.removeEventListener('visibilitychange', onVisibility);
      document.removeEventListener('pointerlockchange', onLockChange);
      box.removeEventListener('wheel', onWheel);
      if (document.pointerLockElement === box) document.exitPointerLock();
    };
  }, [control]);

  // Switching the mouse mode releases the buttons and leaves pointer lock.
  useEffect(() => {
    if (mouseMode === 'absolute' && document.pointerLockElement === boxRef.current) document.exitPointerLock();
    return () => {
      const m = mouse.current;
      if (m.buttons) releaseRef.current();
    };
  }, [mouseMode]);

  function onKeyDown(e: React.KeyboardEvent) {
    if (!isMapped(e.code)) return;
    e.preventDefault();
    e.stopPropagation();
    const r = kb.current.down(e.code);
    if (r) send(keyboardFrame(r));
  }

  function onKeyUp(e: React.KeyboardEvent) {
    if (!isMapped(e.code)) return;
    e.preventDefault();
    e.stopPropagation();
    const r = kb.current.up(e.code);
    if (r) send(keyboardFrame(r));
  }

  function pointer(e: React.PointerEvent) {
    const box = boxRef.current!;
    const img = mediaRef();
    if (!img) return;
    const buttons = hidButtons(e.buttons);
    const m = mouse.current;
    if (mouseMode === 'relative') {
      if (document.pointerLockElement !== box) return;
      const dx = e.movementX;
      const dy = e.movementY;
      if (!dx && !dy && buttons === m.buttons) return;
      m.buttons = buttons;
      send(relativeFrame(buttons, dx, dy));
      return;
    }
    const b = img.getBoundingClientRect();
    const rect = containRect(b.width, b.height, ...mediaSize(img));
    const [x, y] = absPosition(e.clientX - b.left, e.clientY - b.top, rect);
    if (x === m.x && y === m.y && buttons === m.buttons) return;
    m.x = x;
    m.y = y;
    m.buttons = buttons;
    send(absoluteFrame(buttons, x, y));
  }

  function onPointerDown(e: React.PointerEvent) {
    e.preventDefault();
    const box = boxRef.current!;
    box.focus({ preventScroll: true });
    if (mouseMode === 'relative' && document.pointerLockElement !== box) {
      // the first click only captures the pointer
      void Promise.resolve(box.requestPointerLock()).catch(() => {});
      return;
    }
    if (mouseMode === 'absolute') box.setPointerCapture?.(e.pointerId);
    pointer(e);
  }

  const status = signalError
    ? `No signal: ${signalError}`
    : failed
      ? 'No video: reconnecting…'
      : !loaded
        ? 'Connecting to the video stream…'
        : null;

  const handlers = control
    ? {
        tabIndex: 0,
        onKeyDown,
        onKeyUp,
        onFocus: () => setFocused(true),
        onBlur: () => {
          setFocused(false);
          releaseAll();
        },
        onPointerDown,
        onPointerMove: pointer,
        onPointerUp: (e: React.PointerEvent) => {
          e.preventDefault();
          pointer(e);
        },
        onPointerCancel: pointer,
        onMouseUp: (e: React.MouseEvent) => e.preventDefault(), // back/forward buttons: no navigation
        onAuxClick: (e: React.MouseEvent) => e.preventDefault(),
        onContextMenu: (e: React.MouseEvent) => e.preventDefault(),
      }
    : {};

  return (
    <section
      ref={boxRef}
      className={`screen${control ? ' control' : ''}${focused ? ' focused' : ''}${mouseMode === 'relative' ? ' relative' : ''}`}
      aria-label="Remote screen"
      data-testid="screen"
      data-video={status ? (failed || signalError ? 'error' : 'connecting') : 'playing'}
      data-mode={videoMode}
      data-focused={focused ? 'true' : 'false'}
      {...handlers}
    >
      {videoMode === 'mjpeg' && (
        <img
          ref={imgRef}
          className="screen-img"
          src={`/api/stream/mjpeg?v=${version}`}
          alt=""
          draggable={false}
          data-testid="screen-img"
          onLoad={() => {
            meter.current.frame();
            setLoaded(true);
            setFailed(false);
          }}
          onError={() => {
            setLoaded(false);
            setFailed(true);
          }}
        />
      )}
      {videoMode === 'webrtc' && (
        <video ref={videoRef} className="screen-img" data-testid="screen-video" muted autoPlay playsInline />
      )}
      {videoMode === 'direct' && <canvas ref={canvasRef} className="screen-img" data-testid="screen-canvas" />}
      {stats && (
        <div className="screen-stats" data-testid="screen-stats" role="status" aria-label="Video statistics">
          {videoMode} · {stats.fps.toFixed(0)} fps · {stats.kbps.toFixed(0)} kbit/s
          {' · '}{stats.latencyMs === null ? 'delay n/a' : `${stats.latencyMs.toFixed(0)} ms delay`}
        </div>
      )}
      {status && (
        <div className="screen-overlay" data-testid="screen-overlay">
          <p className="screen-title">{status}</p>
          {hostOn === false && <p className="muted small">The host is powered off.</p>}
        </div>
      )}
      {!status && hostOn === false && (
        <div className="screen-note" data-testid="screen-note">The host is powered off</div>
      )}
      {control && !status && (
        <div className="screen-hint" aria-hidden="true">
          {mouseMode === 'relative'
            ? locked
              ? 'Mouse captured: press Esc to release it'
              : 'Click to capture the mouse'
            : focused
              ? 'Keyboard captured'
              : 'Click the screen to type'}
        </div>
      )}
    </section>
  );
}
