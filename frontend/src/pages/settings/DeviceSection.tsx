// Device: hostname and web title (everyone reads, admin writes); SSH, mDNS, HTTPS, OLED and
// reboot (admin); versions. Whatever reboots the KVM or cuts the connection asks first.
import { useState, type FormEvent } from 'react';
import { getHardware, getInfo, type Account } from '../../lib/kvm';
import {
  OLED_SLEEPS, atLeast, getHostname, getMdns, getOled, getSsh, getWebTitle, hostnameError, maybe,
  reboot, setHostname, setMdns, setOledSleep, setSsh, setTls, setWebTitle, titleError, withCurrent,
} from '../../lib/settings';
import { applyTitle } from '../../lib/title';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { Card, LoadState, OutcomeLine, SelectRow, SwitchRow, Value, useAction, useLoad } from './parts';

export function DeviceSection({ account }: { account: Account }) {
  const isAdmin = atLeast(account.role, 'admin');
  // The About card shows the mDNS name: read it again after the name or mDNS changed.
  const [epoch, setEpoch] = useState(0);
  const changed = () => setEpoch((n) => n + 1);
  return (
    <>
      <Identity editable={isAdmin} onChanged={changed} />
      {isAdmin ? <Services onChanged={changed} /> : <p className="muted small">Only administrators can change the device settings.</p>}
      {isAdmin && <Restart />}
      <About key={epoch} />
    </>
  );
}

function Identity({ editable, onChanged }: { editable: boolean; onChanged: () => void }) {
  const ident = useLoad(async () => {
    const [hostname, title] = await Promise.all([getHostname(), getWebTitle()]);
    return { hostname, title };
  });
  if (!ident.data) {
    return <Card title="Name"><LoadState loaded={ident} /></Card>;
  }
  if (!editable) {
    return (
      <Card title="Name">
        <Value label="Hostname" value={ident.data.hostname} testId="hostname" />
        <Value label="Web title" value={ident.data.title || 'Default'} testId="web-title" />
      </Card>
    );
  }
  const reload = async () => {
    await ident.reload();
    onChanged();
  };
  return <IdentityForm hostname={ident.data.hostname} title={ident.data.title} reload={reload} />;
}

function IdentityForm({ hostname, title, reload }: { hostname: string; title: string; reload: () => Promise<void> }) {
  const [name, setName] = useState(hostname);
  const [webTitle, setTitleText] = useState(title);
  const act = useAction();

  async function saveHostname(e: FormEvent) {
    e.preventDefault();
    const n = name.trim();
    const bad = hostnameError(n);
    if (bad) return act.fail(bad);
    await act.run(() => setHostname(n), `Hostname set to ${n}.`, reload);
  }

  async function saveTitle(e: FormEvent, value = webTitle) {
    e.preventDefault();
    const t = value.trim();
    const bad = titleError(t);
    if (bad) return act.fail(bad);
    if (await act.run(() => setWebTitle(t), t ? `Web title set to ${t}.` : 'Web title reset.', reload)) {
      applyTitle(t);
      setTitleText(t);
    }
  }

  return (
    <Card title="Name">
      <form className="inline-form" onSubmit={saveHostname}>
        <div className="grow">
          <label>
            Hostname
            <input name="hostname" value={name} onChange={(e) => setName(e.target.value)} disabled={act.busy}
              autoComplete="off" spellCheck={false} />
          </label>
          <span className="hint">The device's network name (also &lt;name&gt;.local with mDNS).</span>
        </div>
        <button className="btn primary" type="submit" disabled={act.busy || name.trim() === hostname}>Save hostname</button>
      </form>
      <form className="inline-form" onSubmit={(e) => void saveTitle(e)}>
        <div className="grow">
          <label>
            Web title
            <input name="web-title" value={webTitle} placeholder="Default" onChange={(e) => setTitleText(e.target.value)}
              disabled={act.busy} autoComplete="off" />
          </label>
          <span className="hint">Shown in the browser tab; empty for the default.</span>
        </div>
        <button className="btn primary" type="submit" disabled={act.busy || webTitle.trim() === title}>Save title</button>
        {title && (
          <button className="btn" type="button" disabled={act.busy} onClick={(e) => void saveTitle(e, '')}>Use default</button>
        )}
      </form>
      <OutcomeLine outcome={act.outcome} />
    </Card>
  );
}

function Services({ onChanged }: { onChanged: () => void }) {
  const svc = useLoad(async () => {
    const [ssh, mdns, oled] = await Promise.all([getSsh(), getMdns(), maybe(getOled())]);
    return { ssh: ssh.enabled, mdns: mdns.enabled, oled };
  });
  const act = useAction();
  const [tls, setTlsAsk] = useState<boolean | null>(null);
  const https = location.protocol === 'https:';

  async function toggle(fn: () => Promise<unknown>, done: string) {
    await act.run(fn, done, svc.reload);
    onChanged();
  }

  return (
    <Card title="Services">
      <LoadState loaded={svc} />
      {svc.data && (
        <>
          <SwitchRow label="SSH" checked={svc.data.ssh} disabled={act.busy}
            hint="Log in to the KVM itself with ssh (off by default)."
            onChange={(on) => void toggle(() => setSsh(on), on ? 'SSH on.' : 'SSH off.')} />
          <SwitchRow label="mDNS" checked={svc.data.mdns} disabled={act.busy}
            hint="Announce the KVM as <hostname>.local on the local network."
            onChange={(on) => void toggle(() => setMdns(on), on ? 'mDNS on.' : 'mDNS off.')} />
          <SwitchRow label="HTTPS" checked={https} disabled={act.busy}
            hint="A certificate made on the device; the app restarts to apply it."
            optimistic={false} onChange={(on) => setTlsAsk(on)} />
          {svc.data.oled?.exist && (
            <SelectRow label="OLED display sleep" value={svc.data.oled.sleep}
              choices={withCurrent(OLED_SLEEPS, svc.data.oled.sleep, (v) => `${v} seconds`)} disabled={act.busy}
              onChange={(v) => void toggle(() => setOledSleep(Number(v)), 'Saved.')} />
          )}
        </>
      )}
      <OutcomeLine outcome={act.outcome} />
      {tls !== null && (
        <ConfirmDialog
          title={tls ? 'Switch to HTTPS?' : 'Switch back to HTTP?'}
          confirmLabel="Switch and restart"
          danger
          onCancel={() => setTlsAsk(null)}
          onConfirm={() => {
            const on = tls;
            setTlsAsk(null);
            const url = `${on ? 'https' : 'http'}://${location.hostname}/`;
            void act.run(() => setTls(on), `Saved. The app restarts; open it again at ${url}`);
          }}
        >
          The app restarts and this connection drops; everyone watching is disconnected.
          {tls && ' Your browser will warn about the certificate the device made for itself.'}
        </ConfirmDialog>
      )}
    </Card>
  );
}

function Restart() {
  const act = useAction();
  const [asking, setAsking] = useState(false);
  return (
    <Card title="Restart">
      <div className="srow-actions">
        <button className="btn danger-outline" disabled={act.busy} onClick={() => setAsking(true)}>Reboot the KVM</button>
        <span className="hint">The KVM restarts; the host keeps running.</span>
      </div>
      <OutcomeLine outcome={act.outcome} />
      {asking && (
        <ConfirmDialog
          title="Reboot the KVM?"
          confirmLabel="Reboot"
          danger
          onCancel={() => setAsking(false)}
          onConfirm={() => {
            setAsking(false);
            void act.run(reboot, 'Rebooting. The page reconnects when the KVM is back (about a minute).');
          }}
        >
          Video, keyboard, mouse and virtual media stop for everyone until it is back.
        </ConfirmDialog>
      )}
    </Card>
  );
}

function About() {
  const about = useLoad(async () => {
    const [info, hw] = await Promise.all([getInfo(), maybe(getHardware())]);
    return { info, hw: hw?.version ?? '' };
  });
  return (
    <Card title="About">
      <LoadState loaded={about} />
      {about.data && (
        <>
          <Value label="Application" value={about.data.info.application} testId="app-version" />
          {about.data.info.image && <Value label="Image" value={about.data.info.image} />}
          {about.data.hw && <Value label="Hardware" value={about.data.hw} />}
          {about.data.info.mdns && <Value label="mDNS name" value={about.data.info.mdns} testId="mdns-name" />}
          {about.data.info.ips?.map((ip) => (
            <Value key={ip.name + ip.addr} label={`${ip.name} (${ip.type})`} value={ip.addr} />
          ))}
        </>
      )}
    </Card>
  );
}
