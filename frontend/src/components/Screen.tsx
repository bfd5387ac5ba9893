// Placeholder for the remote screen. The video feature replaces the body of
// this component with <img src="/api/stream/mjpeg"> (and later H.264), and the
// HID feature attaches keyboard/mouse handlers (WebSocket /api/ws) to it.
export function Screen({ hostOn }: { hostOn: boolean | null }) {
  return (
    <section className="screen" aria-label="Remote screen" data-testid="screen">
      <div className="screen-inner">
        <svg viewBox="0 0 24 24" width="48" height="48" aria-hidden="true">
          <rect x="2" y="3" width="20" height="14" rx="2.5" fill="none" stroke="currentColor" strokeWidth="1.5" />
          <path d="M8 21h8M12 17v4" stroke="currentColor" strokeWidth="1.5" strokeLinecap="round" />
        </svg>
        <p className="screen-title">Remote screen</p>
        <p className="muted small">The video stream arrives with the video feature.</p>
        {hostOn !== null && (
          <p className="muted small">Host is currently {hostOn ? 'powered on' : 'powered off'}.</p>
        )}
      </div>
    </section>
  );
}
