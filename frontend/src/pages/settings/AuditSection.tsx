// The audit log (admins): logins and failures, power, media, user and setting changes, newest first.
import { listAudit, when } from '../../lib/security';
import { Card, LoadState, useLoad } from './parts';

export function AuditSection() {
  const log = useLoad(() => listAudit(300));
  return (
    <Card title="Audit log" note="Who changed what, from where. Kept on the device, the oldest records dropped beyond its size.">
      <div className="srow-actions"><button className="btn" onClick={() => void log.reload()} disabled={log.loading}>Refresh</button></div>
      <LoadState loaded={log} />
      {log.data && (
        <div className="table-wrap">
          <table className="users audit" aria-label="Audit log">
            <thead><tr><th>When</th><th>Who</th><th>From</th><th>What</th><th>Result</th></tr></thead>
            <tbody>
              {log.data.map((e, i) => (
                <tr key={`${e.time}-${i}`}>
                  <td>{when(e.time)}</td>
                  <td>{e.actor || '—'}{e.via && <span className="tag" title={e.via}>token</span>}</td>
                  <td>{e.address}</td>
                  <td><code>{e.action}</code>{e.detail && Object.keys(e.detail).length > 0 && (
                    <span className="muted small"> {Object.entries(e.detail).map(([k, v]) => `${k}=${v}`).join(' ')}</span>
                  )}</td>
                  <td className={e.result === 'ok' ? 'ok' : 'failed'}>{e.result}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}
