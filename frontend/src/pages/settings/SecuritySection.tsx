// Security (every role, for its own account; admins also see everyone's tokens and sessions):
// two-factor login (TOTP), API tokens for automation, and the live sessions.
import { useState, type FormEvent } from 'react';
import type { Account, Role } from '../../lib/kvm';
import { ROLES } from '../../lib/settings';
import {
  LIFETIMES, beginTotp, clientName, confirmTotp, createToken, disableTotp, endSession, getTotp, listSessions,
  listTokens, revokeToken, when, type CreatedToken, type Enrolment,
} from '../../lib/security';
import { Card, LoadState, OutcomeLine, useAction, useLoad } from './parts';

export function SecuritySection({ account }: { account: Account }) {
  return (
    <>
      <TotpCard />
      <TokensCard account={account} />
      <SessionsCard account={account} />
    </>
  );
}

function TotpCard() {
  const state = useLoad(getTotp);
  const act = useAction();
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);
  const [code, setCode] = useState('');
  const [recovery, setRecovery] = useState<string[] | null>(null);

  async function confirm(e: FormEvent) {
    e.preventDefault();
    await act.run(async () => {
      setRecovery(await confirmTotp(code.trim()));
      setEnrolment(null);
    }, 'Two-factor login is on.', state.reload);
    setCode('');
  }

  async function turnOff(e: FormEvent) {
    e.preventDefault();
    await act.run(() => disableTotp(code.trim()), 'Two-factor login is off.', state.reload);
    setCode('');
  }

  return (
    <Card title="Two-factor login" note="A code from an authenticator app (TOTP) is asked for at every login, after the password. Clients that cannot ask may append the code to the password.">
      <LoadState loaded={state} />
      {recovery && (
        <div className="recovery" data-testid="recovery-codes">
          <p><strong>Recovery codes</strong> — each logs you in once without the app. Keep them somewhere safe: they are shown only now.</p>
          <ul>{recovery.map((c) => <li key={c}><code>{c}</code></li>)}</ul>
          <button className="btn" onClick={() => setRecovery(null)}>I have saved them</button>
        </div>
      )}
      {state.data && !state.data.enabled && !enrolment && (
        <div className="srow-actions">
          <span>Two-factor login is <strong>off</strong>.</span>
          <button className="btn primary" disabled={act.busy} onClick={() => void act.run(async () => setEnrolment(await beginTotp()))}>
            Set up two-factor login
          </button>
        </div>
      )}
      {enrolment && (
        <form className="enrol" onSubmit={confirm} aria-label="Confirm two-factor login">
          <p>Scan this code with your authenticator app, then enter the code it shows.</p>
          <img className="qr" alt="QR code for your authenticator app" src={`data:image/svg+xml;utf8,${encodeURIComponent(enrolment.qrSvg)}`} />
          <p className="muted small">Or type the key: <code data-testid="totp-secret">{enrolment.secret}</code></p>
          <div className="inline-form">
            <label className="grow">
              Code from the app
              <input name="code" inputMode="numeric" autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value)} />
            </label>
            <button className="btn primary" type="submit" disabled={act.busy || !code.trim()}>Turn on</button>
            <button className="btn" type="button" onClick={() => setEnrolment(null)}>Cancel</button>
          </div>
        </form>
      )}
      {state.data?.enabled && (
        <form onSubmit={turnOff} aria-label="Turn off two-factor login">
          <p>Two-factor login is <strong>on</strong>; {state.data.recoveryCodesLeft} recovery codes left.</p>
          <div className="inline-form">
            <label className="grow">
              Code (or recovery code) to turn it off
              <input name="off-code" value={code} onChange={(e) => setCode(e.target.value)} />
            </label>
            <button className="btn danger" type="submit" disabled={act.busy || !code.trim()}>Turn off</button>
          </div>
        </form>
      )}
      <OutcomeLine outcome={act.outcome} />
    </Card>
  );
}

const atMost = (role: Role) => ROLES.slice(0, ROLES.indexOf(role) + 1);

function TokensCard({ account }: { account: Account }) {
  const tokens = useLoad(listTokens);
  const act = useAction();
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [lifetime, setLifetime] = useState(0);
  const [created, setCreated] = useState<CreatedToken | null>(null);

  async function create(e: FormEvent) {
    e.preventDefault();
    const ok = await act.run(async () => setCreated(await createToken(name.trim(), role, lifetime)), undefined, tokens.reload);
    if (ok) setName('');
  }

  return (
    <Card title="API tokens" note={<>For scripts and integrations: send <code>Authorization: Bearer &lt;token&gt;</code>. A token acts as you, with at most your role; revoking it ends its connections at once.</>}>
      {created && (
        <div className="created-token" role="status">
          <p>Token <strong>{created.info.name}</strong> created. Copy it now: it is shown only once.</p>
          <code data-testid="new-token">{created.token}</code>
          <button className="btn" onClick={() => setCreated(null)}>Done</button>
        </div>
      )}
      <form className="inline-form" onSubmit={create} aria-label="New API token">
        <label className="grow">
          Name
          <input name="token-name" value={name} maxLength={64} onChange={(e) => setName(e.target.value)} placeholder="home assistant" />
        </label>
        <label>
          Role
          <select aria-label="Token role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {atMost(account.role).map((r) => <option key={r} value={r}>{r}</option>)}
          </select>
        </label>
        <label>
          Expires
          <select aria-label="Token expiry" value={lifetime} onChange={(e) => setLifetime(Number(e.target.value))}>
            {LIFETIMES.map((l) => <option key={l.value} value={l.value}>{l.label}</option>)}
          </select>
        </label>
        <button className="btn primary" type="submit" disabled={act.busy || !name.trim()}>Create token</button>
      </form>
      <LoadState loaded={tokens} />
      {tokens.data && tokens.data.length > 0 && (
        <div className="table-wrap">
          <table className="users" aria-label="API tokens">
            <thead>
              <tr><th>Name</th>{account.role === 'admin' && <th>Owner</th>}<th>Role</th><th>Expires</th><th>Last used</th><th><span className="sr-only">Actions</span></th></tr>
            </thead>
            <tbody>
              {tokens.data.map((t) => (
                <tr key={t.id}>
                  <td>{t.name}</td>
                  {account.role === 'admin' && <td>{t.owner}</td>}
                  <td><span className={`role ${t.role}`}>{t.role}</span></td>
                  <td>{t.expires ? when(t.expires) : 'never'}</td>
                  <td>{when(t.lastUsed)}</td>
                  <td className="row-actions">
                    <button className="btn danger" disabled={act.busy} aria-label={`Revoke ${t.name}`}
                      onClick={() => void act.run(() => revokeToken(t.id), `Token ${t.name} revoked.`, tokens.reload)}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {tokens.data && tokens.data.length === 0 && <p className="muted small">No tokens yet.</p>}
      <OutcomeLine outcome={act.outcome} />
    </Card>
  );
}

function SessionsCard({ account }: { account: Account }) {
  const sessions = useLoad(listSessions);
  const act = useAction();
  return (
    <Card title="Sessions" note={account.role === 'admin' ? 'Every account\'s logins; ending one logs it out and closes its video and keyboard connections.' : 'Where you are logged in; ending one logs it out and closes its connections.'}>
      <LoadState loaded={sessions} />
      {sessions.data && (
        <div className="table-wrap">
          <table className="users" aria-label="Sessions">
            <thead>
              <tr>{account.role === 'admin' && <th>User</th>}<th>Client</th><th>Address</th><th>Started</th><th>Last seen</th><th><span className="sr-only">Actions</span></th></tr>
            </thead>
            <tbody>
              {sessions.data.map((s) => (
                <tr key={s.id}>
                  {account.role === 'admin' && <td>{s.username}</td>}
                  <td title={s.client}>{clientName(s.client)}{s.current && <span className="tag">this one</span>}</td>
                  <td>{s.address || '—'}</td>
                  <td>{when(s.started)}</td>
                  <td>{when(s.lastSeen)}</td>
                  <td className="row-actions">
                    {!s.current && (
                      <button className="btn danger" disabled={act.busy} aria-label={`End session of ${s.username} from ${s.address}`}
                        onClick={() => void act.run(() => endSession(s.id), 'Session ended.', sessions.reload)}>
                        End
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <OutcomeLine outcome={act.outcome} />
    </Card>
  );
}
