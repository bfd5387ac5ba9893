import { useRef, useState } from 'react';
import { errorText } from '../../lib/api';
import { parseSha256, uploadNameError } from '../../lib/media';

interface Props {
  onUpload: (file: File, sha256: string) => Promise<void>;
}

/** Pick an .iso on this computer and send it (POST /api/download/file). */
export function UploadForm({ onUpload }: Props) {
  const [file, setFile] = useState<File | null>(null);
  const [sha, setSha] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [starting, setStarting] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    const nameError = uploadNameError(file?.name ?? '');
    if (nameError || !file) return setError(nameError);
    const checksum = parseSha256(sha);
    if ('error' in checksum) return setError(checksum.error);
    setError(null);
    setStarting(true);
    try {
      await onUpload(file, checksum.value);
    } catch (err) {
      setError(errorText(err));
      return;
    } finally {
      setStarting(false);
    }
    // the form goes away while the upload runs; a fresh one follows
    setFile(null);
    setSha('');
    if (input.current) input.current.value = '';
  }

  return (
    <form className="add-form" onSubmit={submit} aria-label="Upload an image">
      <label>
        ISO image
        <input ref={input} type="file" accept=".iso,application/x-iso9660-image"
          onChange={(e) => { setFile(e.target.files?.[0] ?? null); setError(null); }} />
      </label>
      <label>
        SHA-256 (optional)
        <input value={sha} onChange={(e) => { setSha(e.target.value); setError(null); }}
          spellCheck={false} autoComplete="off" placeholder="64 hex digits: checked before the image is kept" />
      </label>
      {error && <p className="error small" role="alert">{error}</p>}
      <div className="form-actions">
        <button type="submit" className="btn primary" disabled={starting || !file}>Upload</button>
      </div>
    </form>
  );
}
