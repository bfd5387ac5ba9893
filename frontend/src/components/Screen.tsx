import { useEffect, useRef, useState } from 'react';
import { isMapped } from '../lib/hid/keymap';
import { KeyboardState, keyboardFrame } from '../lib/hid/keyboard';
import {
  WheelThrottle, absPosition, absoluteFrame, containRect, hidButtons, relativeFrame,
} from '../lib/hid/mouse';

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
}

/**
 * The remote screen: the MJPEG stream in an <img> letterboxed into the box, and
 * (for users who may control the host) keyboard and mouse capture while focused.
 */
export function Screen({ send, control, mouseMode, signalError, hostOn, streamEpoch = 0 }: Props) {
  const boxRef = useRef<HTMLElement>(null);
  const imgRef = useRef<HTMLImageElement>(null);
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
  }, []);

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
    const img = imgRef.current!;
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
    const rect = containRect(b.width, b.height, img.naturalWidth, img.naturalHeight);
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
      data-focused={focused ? 'true' : 'false'}
      {...handlers}
    >
      <img
        ref={imgRef}
        className="screen-img"
        src={`/api/stream/mjpeg?v=${version}`}
        alt=""
        draggable={false}
        data-testid="screen-img"
        onLoad={() => {
          setLoaded(true);
          setFailed(false);
        }}
        onError={() => {
          setLoaded(false);
          setFailed(true);
        }}
      />
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
