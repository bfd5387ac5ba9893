import { useEffect, useRef, useState } from 'react';
import { errorText } from '../lib/api';
import { PASTE_LAYOUTS, PASTE_MAX_CHARS, paste } from '../lib/kvm';

const LAYOUT_KEY = 'kvm-paste-layout';

interface Props {
  onClose: (pasted: boolean) => void;
}

/** Types text on the host (POST /api/hid/paste) in the host's keyboard layout. */
export function PasteDialog({ onClose }: Props) {
  const [text, setText] = useState('');
  const [layout, setLayout] = useState(() => localStorage.getItem(LAYOUT_KEY) ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const areaRef = useRef<HTMLTextAreaElement>(null);
  const count = [...text].length;

  useEffect(() => {
    areaRef.current?.focus();
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && !busy && onClose(false);
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [busy, onClose]);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    if (!count) return setError('Enter the text to type on the host.');
    if (count > PASTE_MAX_CHARS) return setError(`The text is too long (at most ${PASTE_MAX_CHARS} characters).`);
    localStorage.setItem(LAYOUT_KEY, layout);
    setBusy(true);
    try {
      await paste(text, layout);
      onClose(true);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }

  return (
    <div className="backdrop" onClick={() => !busy && onClose(false)}>
      <form
        className="card dialog wide"
        role="dialog"
        aria-modal="true"
        aria-labelledby="paste-title"
        onClick={(e) => e.stopPropagation()}
        onSubmit={submit}
      >
        <h2 id="paste-title">Paste text</h2>
        <p className="dialog-body">The text is typed on the host as keystrokes (about 30 characters a second).</p>
        <label>
          Text to paste
          <textarea ref={areaRef} value={text} rows={6} onChange={(e) => { setText(e.target.value); setError(null); }} disabled={busy} />
        </label>
        <span className={`hint${count > PASTE_MAX_CHARS ? ' error' : ''}`}>{count} / {PASTE_MAX_CHARS} characters</span>
        <label>
          Host keyboard layout
          <select value={layout} onChange={(e) => setLayout(e.target.value)} disabled={busy}>
            {PASTE_LAYOUTS.map((l) => <option key={l.value} value={l.value}>{l.label}</option>)}
          </select>
        </label>
        {error && <p className="error small" role="alert">{error}</p>}
        <div className="dialog-actions">
          <button type="button" className="btn" onClick={() => onClose(false)} disabled={busy}>Cancel</button>
          <button type="submit" className="btn primary" disabled={busy}>{busy ? 'Typing…' : 'Paste'}</button>
        </div>
      </form>
    </div>
  );
}
