// The host's screen through noVNC (npm @novnc/novnc), over the app's own RFB WebSocket (/api/vnc/ws):
// the browser's session cookie signs it in, so nothing is asked. Loaded on demand (its own chunk).
// Keys go as QEMU key events (the physical key: no layout guessing), the pointer as absolute.
import { useEffect, useRef, useState } from 'react';
import RFB from '@novnc/novnc';

type VncState = 'connecting' | 'connected' | 'disconnected';

export default function VncView({ control }: { control: boolean }) {
  const target = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<VncState>('connecting');
  const [reason, setReason] = useState('');

  useEffect(() => {
    if (!target.current) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const rfb = new RFB(target.current, `${scheme}://${location.host}/api/vnc/ws`, { wsProtocols: ['binary'] });
    rfb.viewOnly = !control;
    rfb.scaleViewport = true;
    rfb.background = '#000';
    rfb.addEventListener('connect', () => {
      setState('connected');
      rfb.focus();
    });
    rfb.addEventListener('disconnect', (e) => {
      setState('disconnected');
      const clean = (e as CustomEvent<{ clean: boolean }>).detail?.clean;
      setReason(clean ? 'The VNC session ended.' : 'The VNC connection was lost.');
    });
    return () => rfb.disconnect();
  }, [control]);

  return (
    <div className="vnc-view" data-testid="vnc-view" data-state={state}>
      {state !== 'connected' && (
        <p className="vnc-status muted" role="status">{state === 'connecting' ? 'Connecting to VNC…' : reason}</p>
      )}
      <div className="vnc-target" ref={target} aria-label="Host screen (VNC)" />
    </div>
  );
}
