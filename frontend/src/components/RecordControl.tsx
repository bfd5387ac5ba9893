// The toolbar's record button (admins: /recording is admin-only). Start picks the container (MP4 by
// default, AVI remembered when chosen); while a recording runs the server's status is read every
// second for the time recorded and the file's size; Stop closes the file. The server's refusals
// (already recording, no picture, no encoder) and a recording that ended by itself (disk full, size
// quota, source lost) are shown in its own words.
import { useCallback, useEffect, useRef, useState } from 'react';
import { HttpError, UnauthorizedError, errorText } from '../lib/api';
import {
  FORMATS, FORMAT_KEY, elapsed, recordingStatus, savedFormat, size, startRecording, stopRecording, stoppedByItself,
  type RecordingFormat, type RecordingStatus,
} from '../lib/recording';

export const RECORDING_POLL_MS = 1000;
const SAVED_NOTE_MS = 8000;

type Message = { ok: boolean; text: string };

/** The recorder's status, read once at mount and every RECORDING_POLL_MS while a recording runs. */
function useRecorder() {
  const [status, setStatus] = useState<RecordingStatus | null>(null);
  const [message, setMessage] = useState<Message | null>(null);
  const [busy, setBusy] = useState(false);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const alive = useRef(true);

  const show = useCallback((s: RecordingStatus, wasActive: boolean) => {
    setStatus(s);
    const why = wasActive ? stoppedByItself(s) : null;
    if (why) setMessage({ ok: false, text: `Recording stopped: ${why}` });
  }, []);

  const poll = useCallback(async (wasActive: boolean) => {
    clearTimeout(timer.current);
    if (!alive.current) return;
    let active = wasActive;
    try {
      const s = await recordingStatus(true);
      if (!alive.current) return;
      show(s, wasActive);
      active = s.active;
    } catch (e) {
      if (e instanceof UnauthorizedError || !alive.current) return;
      // a missed poll is retried; the last known progress stays on screen
    }
    if (active && alive.current) timer.current = setTimeout(() => void poll(true), RECORDING_POLL_MS);
  }, [show]);

  useEffect(() => {
    alive.current = true;
    void poll(false);
    return () => {
      alive.current = false;
      clearTimeout(timer.current);
    };
  }, [poll]);

  const start = useCallback(async (format: RecordingFormat) => {
    setBusy(true);
    setMessage(null);
    try {
      setStatus(await startRecording(format));
      timer.current = setTimeout(() => void poll(true), RECORDING_POLL_MS);
    } catch (e) {
      setMessage({ ok: false, text: `Cannot record: ${errorText(e)}` });
      if (e instanceof HttpError && e.status === 409) void poll(false); // someone else's recording: show it
    } finally {
      setBusy(false);
    }
  }, [poll]);

  const stop = useCallback(async () => {
    setBusy(true);
    clearTimeout(timer.current);
    try {
      const s = await stopRecording();
      setStatus(s);
      const why = stoppedByItself(s);
      setMessage(why
        ? { ok: false, text: `Recording stopped: ${why}` }
        : { ok: true, text: `Saved ${s.file} (${elapsed(s.duration)}, ${size(s.bytes)}) — Settings › Recordings` });
    } catch (e) {
      setMessage({ ok: false, text: `Cannot stop: ${errorText(e)}` });
      void poll(true);
    } finally {
      setBusy(false);
    }
  }, [poll]);

  useEffect(() => {
    if (!message?.ok) return;
    const t = setTimeout(() => setMessage(null), SAVED_NOTE_MS);
    return () => clearTimeout(t);
  }, [message]);

  return { status, message, busy, start, stop, dismiss: () => setMessage(null) };
}

export function RecordControl() {
  const rec = useRecorder();
  const [format, setFormat] = useState<RecordingFormat>(() => savedFormat(localStorage.getItem(FORMAT_KEY)));
  const s = rec.status;

  function choose(f: RecordingFormat) {
    localStorage.setItem(FORMAT_KEY, f);
    setFormat(f);
  }

  return (
    <span className="rec" role="group" aria-label="Recording">
      {s?.active ? (
        <>
          <button className="btn small danger-outline" onClick={() => void rec.stop()} disabled={rec.busy}
            title={`Stop and close ${s.file ?? 'the file'}`}>
            <span className="rec-square" aria-hidden="true" /> Stop recording
          </button>
          <span className="rec-live" role="timer" aria-label="Recording progress" data-testid="rec-progress"
            data-seconds={s.duration} data-bytes={s.bytes} title={s.file ?? undefined}>
            <span className="rec-dot" aria-hidden="true" />
            <span data-testid="rec-elapsed">{elapsed(s.duration)}</span>
            <span className="muted">·</span>
            <span data-testid="rec-size">{size(s.bytes)}</span>
          </span>
        </>
      ) : (
        <>
          <button className="btn small" onClick={() => void rec.start(format)} disabled={rec.busy}
            title="Record the screen to a file on the device (Settings › Recordings)">
            <span className="rec-dot" aria-hidden="true" /> {rec.busy ? 'Starting…' : 'Record'}
          </button>
          <select className="rec-format" aria-label="Recording format" value={format} disabled={rec.busy}
            onChange={(e) => choose(e.target.value as RecordingFormat)}
            title={FORMATS.find((f) => f.value === format)?.title}>
            {FORMATS.map((f) => <option key={f.value} value={f.value} title={f.title}>{f.label}</option>)}
          </select>
        </>
      )}
      {rec.message && (
        <span className={`rec-msg small ${rec.message.ok ? 'ok' : 'error'}`} role={rec.message.ok ? 'status' : 'alert'}>
          {rec.message.text}
          <button className="btn link small" onClick={rec.dismiss} aria-label="Dismiss">×</button>
        </span>
      )}
    </span>
  );
}
