import { Suspense, lazy, useCallback, useEffect, useRef, useState } from 'react';
import { UnauthorizedError, errorText, onUnauthorized } from './lib/api';
import { getAccount, isPasswordUpdated, type Account } from './lib/kvm';
import { refreshTitle } from './lib/title';
import { LoginPage } from './pages/Login';
import { PasswordPage } from './pages/Password';
import { DesktopPage } from './pages/Desktop';

// The settings page is its own chunk: the first page (login, desktop) does not load it.
const SettingsPage = lazy(() => import('./pages/Settings').then((m) => ({ default: m.SettingsPage })));

// Hash routes (the backend serves only "/" and real files, no SPA fallback):
//   #/login     login form
//   #/password  change password (forced when the server says so)
//   #/          desktop
//   #/settings  settings
type View =
  | { name: 'loading' }
  | { name: 'error'; message: string }
  | { name: 'login'; notice?: string }
  | { name: 'password'; account: Account; forced: boolean }
  | { name: 'desktop'; account: Account }
  | { name: 'settings'; account: Account };

const HASH: Record<View['name'], string | null> = {
  loading: null,
  error: null,
  login: '#/login',
  password: '#/password',
  desktop: '#/',
  settings: '#/settings',
};

export function App() {
  const [view, setView] = useState<View>({ name: 'loading' });
  const viewRef = useRef(view);
  viewRef.current = view;

  const boot = useCallback(async () => {
    try {
      const account = await getAccount({ quiet401: true });
      if (!account?.username) {
        setView({ name: 'login' });
        return;
      }
      void refreshTitle(); // the device's web title names the tab
      const updated = await isPasswordUpdated();
      if (!updated) setView({ name: 'password', account, forced: true });
      else if (location.hash === '#/password') setView({ name: 'password', account, forced: false });
      else if (location.hash === '#/settings') setView({ name: 'settings', account });
      else setView({ name: 'desktop', account });
    } catch (e) {
      if (e instanceof UnauthorizedError) setView({ name: 'login' });
      else setView({ name: 'error', message: errorText(e) });
    }
  }, []);

  // Any 401 anywhere sends the user back to the login page.
  useEffect(() => {
    onUnauthorized(() => {
      if (viewRef.current.name !== 'login') {
        setView({ name: 'login', notice: 'Your session has ended. Please log in again.' });
      }
    });
    return () => onUnauthorized(null);
  }, []);

  useEffect(() => {
    void boot();
  }, [boot]);

  // Keep the URL hash in sync with the view.
  useEffect(() => {
    const h = HASH[view.name];
    if (h && location.hash !== h) history.replaceState(null, '', h);
  }, [view.name]);

  // Manual hash navigation (back button, typed URL) re-evaluates the session.
  useEffect(() => {
    const onHash = () => {
      const v = viewRef.current;
      if (HASH[v.name] !== location.hash) void boot();
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, [boot]);

  switch (view.name) {
    case 'loading':
      return <div className="center-page muted">Loading…</div>;
    case 'error':
      return (
        <div className="center-page">
          <div className="card narrow">
            <h1>Cannot reach the device</h1>
            <p className="error" role="alert">{view.message}</p>
            <button className="btn primary" onClick={() => { setView({ name: 'loading' }); void boot(); }}>
              Retry
            </button>
          </div>
        </div>
      );
    case 'login':
      return <LoginPage notice={view.notice} onLoggedIn={boot} />;
    case 'password':
      return (
        <PasswordPage
          account={view.account}
          forced={view.forced}
          onDone={() =>
            setView({ name: 'login', notice: 'Password changed. Please log in with your new password.' })
          }
          onCancel={() => setView({ name: 'desktop', account: view.account })}
          onLoggedOut={() => setView({ name: 'login' })}
        />
      );
    case 'desktop':
      return (
        <DesktopPage
          account={view.account}
          onLoggedOut={() => setView({ name: 'login', notice: 'You have been logged out.' })}
          onChangePassword={() => setView({ name: 'password', account: view.account, forced: false })}
          onSettings={() => setView({ name: 'settings', account: view.account })}
        />
      );
    case 'settings':
      return (
        <Suspense fallback={<div className="center-page muted">Loading…</div>}>
          <SettingsPage
            account={view.account}
            onBack={() => setView({ name: 'desktop', account: view.account })}
            onChangePassword={() => setView({ name: 'password', account: view.account, forced: false })}
          />
        </Suspense>
      );
  }
}
