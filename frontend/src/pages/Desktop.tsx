import { useCallback, useEffect, useRef, useState } from 'react';
import { UnauthorizedError, errorText } from '../lib/api';
import { canControl, getGpio, getHardware, getInfo, logout, type Account, type Gpio, type VmInfo } from '../lib/kvm';
import { Brand } from '../components/Brand';
import { PowerPanel } from '../components/PowerPanel';
import { Screen } from '../components/Screen';

export const GPIO_POLL_MS = 1500;

interface Props {
  account: Account;
  onLoggedOut: () => void;
  onChangePassword: () => void;
}

/** Polls GET /api/vm/gpio every GPIO_POLL_MS while mounted and the tab is visible. */
function useGpio() {
  const [gpio, setGpio] = useState<Gpio | null>(null);
  const [error, setError] = useState<string | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const alive = useRef(true);
  const inFlight = useRef(false);

  const poll = useCallback(async () => {
    clearTimeout(timer.current);
    if (!alive.current) return;
    if (!inFlight.current && !document.hidden) {
      inFlight.current = true;
      try {
        const g = await getGpio({ timeoutMs: 10_000 });
        if (alive.current) {
          setGpio({ pwr: !!g?.pwr, hdd: !!g?.hdd });
          setError(null);
        }
      } catch (e) {
        if (e instanceof UnauthorizedError) {
          alive.current = false; // App switches to the login page
          return;
        }
        if (alive.current) setError(errorText(e));
      } finally {
        inFlight.current = false;
      }
    }
    if (alive.current) timer.current = setTimeout(poll, GPIO_POLL_MS);
  }, []);

  useEffect(() => {
    alive.current = true;
    void poll();
    const onVis = () => !document.hidden && void poll();
    document.addEventListener('visibilitychange', onVis);
    return () => {
      alive.current = false;
      clearTimeout(timer.current);
      document.removeEventListener('visibilitychange', onVis);
    };
  }, [poll]);

  return { gpio, error, refresh: poll };
}

export function DesktopPage({ account, onLoggedOut, onChangePassword }: Props) {
  const { gpio, error: gpioError, refresh } = useGpio();
  const [info, setInfo] = useState<VmInfo | null>(null);
  const [hw, setHw] = useState<string | null>(null);
  const [loggingOut, setLoggingOut] = useState(false);

  useEffect(() => {
    let live = true;
    getInfo().then((i) => live && setInfo(i)).catch(() => {});
    getHardware().then((h) => live && setHw(h?.version ?? null)).catch(() => {});
    return () => {
      live = false;
    };
  }, []);

  async function doLogout() {
    setLoggingOut(true);
    try {
      await logout();
    } catch {
      /* session may already be gone; go to login regardless */
    }
    onLoggedOut();
  }

  const host = info?.mdns || info?.ips?.[0]?.addr || '';

  return (
    <div className="desktop">
      <header className="topbar">
        <Brand small />
        {host && <span className="host muted" title="Device">{host}</span>}
        <span className="spacer" />
        <span className="user" data-testid="user">
          {account.username} <span className={`role ${account.role}`}>{account.role}</span>
        </span>
        <button className="btn ghost" onClick={onChangePassword}>Change password</button>
        <button className="btn ghost" onClick={doLogout} disabled={loggingOut}>
          {loggingOut ? 'Logging out…' : 'Log out'}
        </button>
      </header>

      <main className="workspace">
        <Screen hostOn={gpio ? gpio.pwr : null} />
        <aside className="sidebar">
          <PowerPanel gpio={gpio} gpioError={gpioError} controls={canControl(account.role)} onPressed={refresh} />
          {info && (
            <section className="card panel" aria-label="Device">
              <h2>Device</h2>
              <dl className="facts">
                {info.ips?.map((ip) => (
                  <Fact key={ip.name + ip.addr} k={`${ip.name} (${ip.type})`} v={ip.addr} />
                ))}
                {info.mdns && <Fact k="mDNS" v={info.mdns} />}
                {hw && <Fact k="Hardware" v={hw} />}
              </dl>
            </section>
          )}
        </aside>
      </main>

      <footer className="footer muted" data-testid="footer">
        {info ? (
          <>
            <span>Application v{info.application}</span>
            {info.image && <span>Image {info.image}</span>}
            {hw && <span>Hardware {hw}</span>}
          </>
        ) : (
          <span>&nbsp;</span>
        )}
      </footer>
    </div>
  );
}

function Fact({ k, v }: { k: string; v: string }) {
  return (
    <>
      <dt>{k}</dt>
      <dd>{v}</dd>
    </>
  );
}
