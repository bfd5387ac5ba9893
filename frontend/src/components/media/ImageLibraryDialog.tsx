import { useEffect, useRef, useState } from 'react';
import { ConfirmDialog } from '../ConfirmDialog';
import { DATA_DIR, imageLabel, type Mounted, type MountMode } from '../../lib/media';
import { DownloadForm } from './DownloadForm';
import { TransferProgress } from './TransferProgress';
import { UploadForm } from './UploadForm';
import type { Outcome, Transfers } from './useTransfer';

export const MODE_LABEL: Record<MountMode, string> = { cdrom: 'CD-ROM', flash: 'Flash drive' };

interface Props {
  images: string[] | null;
  mounted: Mounted | null;
  diskOn: boolean | null;
  enabled: boolean | null;
  transfers: Transfers;
  busy: string | null;
  error: string | null;
  onMount: (file: string, mode: MountMode) => void;
  onUnmount: () => void;
  onDelete: (file: string) => void;
  onClose: () => void;
}

type Source = 'upload' | 'url';

/** The image library in /data: mount, unmount, delete, and add images by upload or URL. */
export function ImageLibraryDialog(p: Props) {
  const [confirming, setConfirming] = useState<string | null>(null);
  const [source, setSource] = useState<Source>('upload');
  const closeRef = useRef<HTMLButtonElement>(null);
  const { onClose } = p;

  useEffect(() => {
    closeRef.current?.focus();
  }, []);
  useEffect(() => {
    // Escape belongs to the confirmation while it is open.
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && !confirming && onClose();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [confirming, onClose]);

  const { transfer, outcome } = p.transfers;
  const canMount = p.diskOn !== false && !p.busy;

  return (
    <>
      <div className="backdrop" onClick={onClose}>
        <div className="card dialog media-dialog" role="dialog" aria-modal="true" aria-labelledby="media-title"
          onClick={(e) => e.stopPropagation()}>
          <div className="dialog-head">
            <h2 id="media-title">Images</h2>
            <button ref={closeRef} type="button" className="btn ghost small" onClick={onClose} aria-label="Close">✕</button>
          </div>
          <p className="dialog-body small">
            CD-ROM: the host sees a read-only optical drive. Flash drive: a writable USB stick.
          </p>
          {p.diskOn === false && <p className="notice small">The USB disk is off: switch it on to mount an image.</p>}

          <ImageList {...p} canMount={canMount} onAskDelete={setConfirming} />
          <p className="media-status small" aria-live="polite">
            {p.busy ? <span className="muted">{p.busy}</span> : p.error ? <span className="error" role="alert">{p.error}</span> : null}
          </p>

          <h3 className="media-sub">Add an image</h3>
          {transfer ? (
            <TransferProgress transfer={transfer} onCancel={p.transfers.cancel} cancelling={p.transfers.cancelling} />
          ) : p.enabled === false ? (
            <p className="error small">{DATA_DIR} does not accept new files (full or read-only).</p>
          ) : (
            <>
              <div className="seg" role="group" aria-label="Image source">
                <button type="button" className={`btn small${source === 'upload' ? ' active' : ''}`}
                  aria-pressed={source === 'upload'} onClick={() => setSource('upload')}>From this computer</button>
                <button type="button" className={`btn small${source === 'url' ? ' active' : ''}`}
                  aria-pressed={source === 'url'} onClick={() => setSource('url')}>From a URL</button>
              </div>
              {source === 'upload'
                ? <UploadForm onUpload={p.transfers.upload} />
                : <DownloadForm onDownload={p.transfers.download} />}
            </>
          )}
          {outcome && <OutcomeLine {...outcome} />}
        </div>
      </div>

      {confirming && (
        <ConfirmDialog
          title={`Delete ${imageLabel(confirming)}?`}
          confirmLabel="Delete"
          danger
          onConfirm={() => {
            p.onDelete(confirming);
            setConfirming(null);
          }}
          onCancel={() => setConfirming(null)}
        >
          The image file is removed from the device. This cannot be undone.
        </ConfirmDialog>
      )}
    </>
  );
}

function ImageList(p: Props & { canMount: boolean; onAskDelete: (file: string) => void }) {
  if (p.images === null) return <p className="muted small">Loading images…</p>;
  if (!p.images.length) return <p className="muted small" data-testid="no-images">No images in {DATA_DIR} yet: add one below.</p>;
  return (
    <ul className="image-list" aria-label="Images">
      {p.images.map((file) => {
        const label = imageLabel(file);
        const isMounted = p.mounted?.file === file;
        return (
          <li key={file} className={isMounted ? 'mounted' : undefined} data-testid="image-row" data-file={file}>
            <span className="image-name" title={file}>{label}</span>
            {isMounted && (
              <span className="tag" data-testid="mounted-tag">
                Mounted{p.mounted?.mode ? ` · ${MODE_LABEL[p.mounted.mode]}` : ''}
              </span>
            )}
            <span className="image-actions">
              {isMounted ? (
                <button type="button" className="btn small" disabled={!!p.busy} onClick={p.onUnmount}
                  aria-label={`Unmount ${label}`}>Unmount</button>
              ) : (
                <>
                  <button type="button" className="btn small" disabled={!p.canMount}
                    onClick={() => p.onMount(file, 'cdrom')} aria-label={`Mount ${label} as CD-ROM`}>CD-ROM</button>
                  <button type="button" className="btn small" disabled={!p.canMount}
                    onClick={() => p.onMount(file, 'flash')} aria-label={`Mount ${label} as flash drive`}>Flash</button>
                </>
              )}
              <button type="button" className="btn small danger-outline" disabled={!!p.busy}
                onClick={() => p.onAskDelete(file)} aria-label={`Delete ${label}`}>Delete</button>
            </span>
          </li>
        );
      })}
    </ul>
  );
}

/** How the last transfer ended: a failure is an alert, the rest a status line. */
export function OutcomeLine({ tone, text }: Outcome) {
  return (
    <p className={`small ${tone}`} role={tone === 'error' ? 'alert' : 'status'} data-testid="transfer-outcome" data-tone={tone}>
      {text}
    </p>
  );
}
