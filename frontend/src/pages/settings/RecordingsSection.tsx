// Recordings (admins): the files under the device's recordings directory, newest first, to download
// (a plain link: the server sends the file with byte ranges) or delete; and what the recorder did
// last. Recordings are started and stopped from the desktop's toolbar (or /recording by script).
import { useState } from 'react';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { when } from '../../lib/security';
import { deleteRecording, downloadUrl, elapsed, listRecordings, size, type RecordingStatus } from '../../lib/recording';
import { Card, LoadState, OutcomeLine, useAction, useLoad } from './parts';

function Recorder({ status }: { status: RecordingStatus }) {
  if (!status.file) return null;
  const progress = `${elapsed(status.duration)}, ${size(status.bytes)}, ${status.frames} frames`;
  return (
    <p className="small" data-testid="recorder-state">
      {status.active
        ? <>Recording now: <code>{status.file}</code> ({progress}).</>
        : <>Last recording: <code>{status.file}</code> ({progress}){status.stopped && status.stopped !== 'stopped' ? `, stopped: ${status.stopped}` : ''}.</>}
    </p>
  );
}

export function RecordingsSection() {
  const list = useLoad(listRecordings);
  const act = useAction();
  const [deleting, setDeleting] = useState<string | null>(null);
  const files = list.data?.files;

  return (
    <Card title="Recordings" note={<>Screen recordings kept on the device (<code>/data/recordings</code>). Start one with Record on the desktop&apos;s toolbar, or with <code>POST /recording</code> from a script.</>}>
      <div className="srow-actions">
        <button className="btn" onClick={() => void list.reload()} disabled={list.loading}>Refresh</button>
      </div>
      <LoadState loaded={list} />
      {list.data && (list.data.recording.active || files?.some((f) => f.name === list.data?.recording.file)) && (
        <Recorder status={list.data.recording} />
      )}
      {files && files.length === 0 && <p className="muted" data-testid="recordings-empty">No recordings yet.</p>}
      {files && files.length > 0 && (
        <div className="table-wrap">
          <table className="users" aria-label="Recordings">
            <thead><tr><th>Name</th><th>Size</th><th>Date</th><th><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {files.map((f) => (
                <tr key={f.name}>
                  <td><code>{f.name}</code>{f.active && <span className="tag">recording</span>}</td>
                  <td title={`${f.size} bytes`}>{size(f.size)}</td>
                  <td>{when(f.modified)}</td>
                  <td className="row-actions">
                    <a className="btn small" href={downloadUrl(f.name)} download={f.name.split('/').pop()}
                      aria-label={`Download ${f.name}`}>Download</a>
                    <button className="btn small danger-outline" disabled={act.busy || f.active}
                      title={f.active ? 'Being written: stop the recording first' : undefined}
                      aria-label={`Delete ${f.name}`} onClick={() => setDeleting(f.name)}>Delete</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <OutcomeLine outcome={act.outcome} />
      {deleting && (
        <ConfirmDialog
          title={`Delete ${deleting}?`}
          confirmLabel="Delete"
          danger
          onCancel={() => setDeleting(null)}
          onConfirm={() => {
            const name = deleting;
            setDeleting(null);
            void act.run(() => deleteRecording(name), `${name} deleted.`, list.reload);
          }}
        >
          The file is removed from the device. This cannot be undone.
        </ConfirmDialog>
      )}
    </Card>
  );
}
