// VNC (admin): the built-in VNC server's port and state, who is connected, the host layout used for
// keysyms, and the optional classic VNC password.
import { useState, type FormEvent } from 'react';
import type { Account } from '../../lib/kvm';
import { VNC_LAYOUTS, getVnc, setVncEnabled, setVncLayout, setVncPassword } from '../../lib/settings';
import { Card, LoadState, OutcomeLine, SelectRow, SwitchRow, Value, useAction, useLoad } from './parts';

export function VncSection(_: { account: Account }) {
  const vnc = useLoad(getVnc);
  const act = useAction();
  const [password, setPassword] = useState('');
  const s = vnc.data;

  async function savePassword(e: FormEvent) {
    e.preventDefault();
    if (await act.run(() => setVncPassword(password), 'VNC password set.', vnc.reload)) setPassword('');
  }

  return (
    <>
      <Card title="VNC server" note="VNC clients sign in with VeNCrypt (TLS with this device's certificate) and a user name and password of this KVM; roles apply. Off until switched on here (or with vnc.enabled in server.yaml).">
        <LoadState loaded={vnc} />
        {s && (
          <>
            <SwitchRow label="VNC server" checked={s.enabled} disabled={act.busy}
              onChange={(on) => void act.run(() => setVncEnabled(on), on ? 'VNC server on.' : 'VNC server off; its clients were disconnected.', vnc.reload)}
              hint="Off ends the VNC clients' connections; noVNC in this page is not affected." />
            <Value label="State" value={s.running ? 'Running' : s.enabled ? 'Enabled, not listening (see the log)' : 'Off'} testId="vnc-state" />
            <Value label="Port" value={s.port} testId="vnc-port" />
            <Value label="TLS" value={s.tls ? 'Device certificate' : 'Unavailable'} />
            <SelectRow label="Host keyboard layout (for keysyms)" value={s.layout} disabled={act.busy}
              choices={VNC_LAYOUTS.map((l) => ({ value: l, label: l }))}
              onChange={(v) => void act.run(() => setVncLayout(v), `Layout: ${v}.`, vnc.reload)}
              hint="Clients that send QEMU key events (noVNC, TigerVNC on Linux) need no layout." />
            <h3 className="small">Connected clients</h3>
            {s.clients.length === 0 ? (
              <p className="muted small" data-testid="vnc-clients">None.</p>
            ) : (
              <ul className="wol-list" data-testid="vnc-clients" aria-label="Connected VNC clients">
                {s.clients.map((c) => (
                  <li key={`${c.peer}-${c.connected}`}>
                    <span><b>{c.username}</b> ({c.role}) from <code>{c.peer}</code> over {c.transport}, {c.encoding}</span>
                  </li>
                ))}
              </ul>
            )}
          </>
        )}
        <OutcomeLine outcome={act.outcome} />
      </Card>
      <Card title="Classic VNC password" note="Only for clients that cannot do VeNCrypt. Classic VNC authentication is DES with at most 8 characters and no user name: anyone who has it controls the host (as a user). Prefer VeNCrypt.">
        {s && <Value label="Classic VNC authentication" value={s.vncPassword ? 'On' : 'Off'} testId="vnc-password-state" />}
        <form className="inline-form" onSubmit={savePassword}>
          <div className="grow">
            <label>
              New VNC password
              <input type="password" name="vnc-password" value={password} maxLength={8} autoComplete="new-password"
                onChange={(e) => setPassword(e.target.value)} disabled={act.busy} />
            </label>
            <span className="hint">At most 8 characters (DES). Setting or removing it disconnects its clients.</span>
          </div>
          <button className="btn primary" type="submit" disabled={act.busy || !password}>Set</button>
          <button className="btn" type="button" disabled={act.busy || !s?.vncPassword}
            onClick={() => void act.run(() => setVncPassword(''), 'VNC password removed.', vnc.reload)}>Remove</button>
        </form>
      </Card>
    </>
  );
}
