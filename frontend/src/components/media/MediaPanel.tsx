import { useCallback, useEffect, useState } from 'react';
import { errorText } from '../../lib/api';
import type { Account } from '../../lib/kvm';
import {
  canManageMedia, deleteImage, imageLabel, mountImage, toggleVirtualDevice, unmountImage,
  type MountMode, type VirtualDevice,
} from '../../lib/media';
import { ConfirmDialog } from '../ConfirmDialog';
import { ImageLibraryDialog, MODE_LABEL, OutcomeLine } from './ImageLibraryDialog';
import { TransferProgress } from './TransferProgress';
import { UsbToggles } from './UsbToggles';
import { useMediaLibrary } from './useMediaLibrary';
import { useTransfer } from './useTransfer';
import './media.css';

// Virtual media (spec §4.5, §4.6, §7.4): what the host has in its USB drive, the image
// library, transfers and the USB network/disk switches. The server serves all of it to
// admins only; other accounts see the mounted image if the server lets them, and no controls.
export function MediaPanel({ account }: { account: Account }) {
  const manage = canManageMedia(account.role);
  const lib = useMediaLibrary(manage);
  const transfers = useTransfer(manage, lib.refresh);
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [switching, setSwitching] = useState<VirtualDevice | null>(null);
  const [confirmDiskOff, setConfirmDiskOff] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const { refresh } = lib;

  /** One action at a time; its error is shown where the user is (dialog or card). */
  const run = useCallback(async (label: string, action: () => Promise<unknown>) => {
    setBusy(label);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(null);
      await refresh();
    }
  }, [refresh]);

  const mount = (file: string, mode: MountMode) =>
    run(`Mounting ${imageLabel(file)} as ${MODE_LABEL[mode]}…`, () => mountImage(file, mode));
  const unmount = () => run('Unmounting…', unmountImage);
  const remove = (file: string) => run(`Deleting ${imageLabel(file)}…`, () => deleteImage(file));

  async function toggle(device: VirtualDevice) {
    setConfirmDiskOff(false);
    setSwitching(device);
    setError(null);
    try {
      await toggleVirtualDevice(device);
    } catch (e) {
      setError(`USB ${device}: ${errorText(e)}`);
    } finally {
      setSwitching(null);
      await refresh();
    }
  }

  function askToggle(device: VirtualDevice) {
    // Switching the disk off takes the mounted image away from the host: ask first.
    if (device === 'disk' && lib.devices?.disk && lib.mounted?.file) setConfirmDiskOff(true);
    else void toggle(device);
  }

  const { probe } = lib;
  useEffect(() => {
    if (!open) return;
    void refresh();
    void probe();
  }, [open, refresh, probe]);

  const mounted = lib.mounted;
  const diskOn = lib.devices ? lib.devices.disk : null;

  return (
    <section className="card panel media-panel" aria-label="Virtual media">
      <h2>Virtual media</h2>
      <MountedLine
        file={mounted?.file ?? null}
        mode={mounted?.mode ?? null}
        diskOn={diskOn}
        error={lib.mountedError}
        forbidden={lib.forbidden}
      />

      {manage ? (
        <>
          <div className="media-actions">
            <button type="button" className="btn" onClick={() => setOpen(true)}>
              Images{lib.images ? ` (${lib.images.length})` : ''}
            </button>
            {mounted?.file && (
              <button type="button" className="btn" onClick={unmount} disabled={!!busy}>Unmount</button>
            )}
          </div>
          {!open && transfers.transfer && (
            <TransferProgress transfer={transfers.transfer} onCancel={transfers.cancel} cancelling={transfers.cancelling} />
          )}
          {!open && transfers.outcome && <OutcomeLine {...transfers.outcome} />}
          <UsbToggles devices={lib.devices} busy={switching} disabled={!!busy} onToggle={askToggle} />
          {!open && (busy || error || lib.loadError) && (
            <p className="media-status small" aria-live="polite">
              {busy ? <span className="muted">{busy}</span>
                : error ? <span className="error" role="alert">{error}</span>
                  : <span className="error">Virtual media unavailable: {lib.loadError}</span>}
            </p>
          )}
        </>
      ) : (
        <p className="muted small" data-testid="media-readonly">
          Images and USB devices are managed by an administrator.
        </p>
      )}

      {open && (
        <ImageLibraryDialog
          images={lib.images}
          mounted={mounted}
          diskOn={diskOn}
          enabled={lib.enabled}
          transfers={transfers}
          busy={busy}
          error={error}
          onMount={mount}
          onUnmount={unmount}
          onDelete={remove}
          onClose={() => setOpen(false)}
        />
      )}
      {confirmDiskOff && (
        <ConfirmDialog
          title="Switch the USB disk off?"
          confirmLabel="Switch off"
          danger
          onConfirm={() => void toggle('disk')}
          onCancel={() => setConfirmDiskOff(false)}
        >
          The host loses the mounted image ({imageLabel(mounted?.file ?? '')}) at once, as if the drive were unplugged.
        </ConfirmDialog>
      )}
    </section>
  );
}

interface MountedProps {
  file: string | null;
  mode: MountMode | null;
  diskOn: boolean | null;
  error: string | null;
  forbidden: boolean;
}

function MountedLine({ file, mode, diskOn, error, forbidden }: MountedProps) {
  let text: React.ReactNode;
  let state = 'unknown';
  if (diskOn === false) {
    text = <span className="muted">USB disk is off</span>;
    state = 'off';
  } else if (forbidden) {
    text = <span className="muted">Not shown to your account</span>;
  } else if (error && file === null) {
    text = <span className="error">Unknown ({error})</span>;
  } else if (file === null) {
    text = <span className="muted">Loading…</span>;
  } else if (!file) {
    text = <span className="muted">No image</span>;
    state = 'none';
  } else {
    text = (
      <>
        <b className="image-name" title={file}>{imageLabel(file)}</b>
        {mode && <span className="tag">{MODE_LABEL[mode]}</span>}
      </>
    );
    state = 'mounted';
  }
  return (
    <div className="mounted-line" data-testid="media-mounted" data-state={state} data-file={file ?? ''}>
      <DiscIcon />
      <span className="mounted-text">{text}</span>
    </div>
  );
}

function DiscIcon() {
  return (
    <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" className="disc">
      <circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" strokeWidth="1.8" />
      <circle cx="12" cy="12" r="2.5" fill="none" stroke="currentColor" strokeWidth="1.8" />
    </svg>
  );
}
