import { useState, type FormEvent } from 'react';
import { errorText } from '../lib/api';
import { ApiError } from '../lib/api';
import { CODE_REQUIRED, login } from '../lib/kvm';
import { Brand } from '../components/Brand';

export function LoginPage({ notice, onLoggedIn }: { notice?: string; onLoggedIn: () => Promise<void> | void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // Asked for once the server says the account has two-factor login (code -6).
  const [needCode, setNeedCode] = useState(false);
  const [code, setCode] = useState('');

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!username || !password) {
      setError('Please enter a username and password.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await login(username, password, needCode ? code.trim() : undefined);
      setPassword('');
      await onLoggedIn();
    } catch (err) {
      if (err instanceof ApiError && err.code === CODE_REQUIRED && !needCode) {
        setNeedCode(true);
        setError(null);
      } else {
        setError(errorText(err));
      }
      setCode('');
      setBusy(false);
    }
  }

  return (
    <div className="center-page">
      <form className="card narrow" onSubmit={submit} aria-label="Log in">
        <Brand />
        <h1>Log in</h1>
        {notice && !error && <p className="notice" role="status">{notice}</p>}
        <label>
          Username
          <input
            name="username"
            autoComplete="username"
            autoFocus
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            disabled={busy}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            disabled={busy}
          />
        </label>
        {needCode && (
          <label>
            Two-factor code
            <input
              name="totp"
              autoComplete="one-time-code"
              inputMode="numeric"
              autoFocus
              placeholder="123456 or a recovery code"
              value={code}
              onChange={(e) => setCode(e.target.value)}
              disabled={busy}
            />
          </label>
        )}
        {error && <p className="error" role="alert">{error}</p>}
        <button className="btn primary block" type="submit" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </div>
  );
}
