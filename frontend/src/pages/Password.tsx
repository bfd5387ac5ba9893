import { useState, type FormEvent } from 'react';
import { errorText } from '../lib/api';
import { changePassword, logout, passwordPolicyError, type Account } from '../lib/kvm';
import { Brand } from '../components/Brand';

interface Props {
  account: Account;
  forced: boolean;
  onDone: () => void;
  onCancel: () => void;
  onLoggedOut: () => void;
}

export function PasswordPage({ account, forced, onDone, onCancel, onLoggedOut }: Props) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    if (!current) return setError('Please enter your current password.');
    const policy = passwordPolicyError(next);
    if (policy) return setError(policy);
    if (next !== confirm) return setError('The new passwords do not match.');
    if (next === current) return setError('The new password must differ from the current one.');
    setBusy(true);
    try {
      await changePassword(current, next);
      onDone(); // the server cleared our session cookie
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }

  async function doLogout() {
    try {
      await logout();
    } catch {
      /* the session may already be gone */
    }
    onLoggedOut();
  }

  return (
    <div className="center-page">
      <form className="card narrow" onSubmit={submit} aria-label="Change password">
        <Brand />
        <h1>Change password</h1>
        {forced ? (
          <p className="notice">
            Welcome, <b>{account.username}</b>. For security, choose a new password before you continue.
          </p>
        ) : (
          <p className="muted">Signed in as <b>{account.username}</b>. You will need to log in again afterwards.</p>
        )}
        <label>
          Current password
          <input
            name="currentPassword"
            type="password"
            autoComplete="current-password"
            autoFocus
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
            disabled={busy}
          />
        </label>
        <label>
          New password
          <input
            name="newPassword"
            type="password"
            autoComplete="new-password"
            value={next}
            onChange={(e) => setNext(e.target.value)}
            disabled={busy}
            aria-describedby="pw-hint"
          />
        </label>
        <span className="hint" id="pw-hint">8 to 72 characters (bytes).</span>
        <label>
          Confirm new password
          <input
            name="confirmPassword"
            type="password"
            autoComplete="new-password"
            value={confirm}
            onChange={(e) => setConfirm(e.target.value)}
            disabled={busy}
          />
        </label>
        {error && <p className="error" role="alert">{error}</p>}
        <button className="btn primary block" type="submit" disabled={busy}>
          {busy ? 'Saving…' : 'Change password'}
        </button>
        {forced ? (
          <button className="btn link block" type="button" onClick={doLogout} disabled={busy}>
            Log out
          </button>
        ) : (
          <button className="btn link block" type="button" onClick={onCancel} disabled={busy}>
            Cancel
          </button>
        )}
      </form>
    </div>
  );
}
