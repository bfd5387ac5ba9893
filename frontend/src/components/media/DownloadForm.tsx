import { useState } from 'react';
import { errorText } from '../../lib/api';
import { DATA_DIR, downloadTarget, parseSha256 } from '../../lib/media';

interface Props {
  onDownload: (url: string, name: string, sha256: string) => Promise<void>;
}

/** Have the device fetch an image itself (POST /api/download/image); progress is polled. */
export function DownloadForm({ onDownload }: Props) {
  const [url, setUrl] = useState('');
  const [sha, setSha] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [starting, setStarting] = useState(false);
  const target = url.trim() ? downloadTarget(url) : null;

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    const t = downloadTarget(url);
    if ('error' in t) return setError(t.error);
    const checksum = parseSha256(sha);
    if ('error' in checksum) return setError(checksum.error);
    setError(null);
    setStarting(true);
    try {
      await onDownload(url.trim(), t.name, checksum.value);
      setUrl('');
      setSha('');
    } catch (err) {
      setError(errorText(err));
    } finally {
      setStarting(false);
    }
  }

  return (
    <form className="add-form" onSubmit={submit} aria-label="Download an image">
      <label>
        Image URL
        <input type="url" value={url} onChange={(e) => { setUrl(e.target.value); setError(null); }} disabled={starting}
          spellCheck={false} autoComplete="off" placeholder="https://example.com/os.iso" />
      </label>
      {target && 'name' in target && <span className="hint">Saved as {DATA_DIR}/{target.name}</span>}
      <label>
        SHA-256 (optional)
        <input value={sha} onChange={(e) => { setSha(e.target.value); setError(null); }} disabled={starting}
          spellCheck={false} autoComplete="off" placeholder="64 hex digits: checked before the image is kept" />
      </label>
      {error && <p className="error small" role="alert">{error}</p>}
      <div className="form-actions">
        <button type="submit" className="btn primary" disabled={starting || !url.trim()}>
          {starting ? 'Starting…' : 'Download'}
        </button>
      </div>
    </form>
  );
}
