// Wake-on-LAN (user): wake a machine by MAC (the server remembers it), wake a saved one;
// admins also name and forget saved machines.
import { useState, type FormEvent } from 'react';
import type { Account } from '../../lib/kvm';
import { atLeast, forgetMac, listWol, nameMac, normalizeMac, wake, type WolTarget } from '../../lib/settings';
import { Card, LoadState, OutcomeLine, useAction, useLoad } from './parts';

export function WolSection({ account }: { account: Account }) {
  const isAdmin = atLeast(account.role, 'admin');
  const list = useLoad(listWol);
  const act = useAction();
  const [mac, setMac] = useState('');

  async function wakeNew(e: FormEvent) {
    e.preventDefault();
    const m = normalizeMac(mac);
    if (!m) return act.fail('A MAC address is 12 hex digits, such as AA:BB:CC:DD:EE:FF.');
    if (await act.run(() => wake(m), `Magic packet sent to ${m}.`, list.reload)) setMac('');
  }

  async function run(fn: () => Promise<unknown>, done: string) {
    await act.run(fn, done, list.reload);
  }

  return (
    <>
      <Card title="Wake a machine" note="Sends a magic packet on the KVM's network; the machine must allow Wake-on-LAN.">
        <form className="inline-form" onSubmit={wakeNew}>
          <div className="grow">
            <label>
              MAC address
              <input name="mac" value={mac} placeholder="AA:BB:CC:DD:EE:FF" onChange={(e) => setMac(e.target.value)}
                disabled={act.busy} autoComplete="off" spellCheck={false} />
            </label>
            <span className="hint">Any of AA:BB:CC:DD:EE:FF, aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff.</span>
          </div>
          <button className="btn primary" type="submit" disabled={act.busy || !mac.trim()}>Wake</button>
        </form>
        <OutcomeLine outcome={act.outcome} />
      </Card>
      <Card title="Saved machines">
        <LoadState loaded={list} />
        {list.data && list.data.length === 0 && <p className="muted small">None yet: a machine is saved when it is woken.</p>}
        {list.data && list.data.length > 0 && (
          <ul className="wol-list" aria-label="Saved machines">
            {list.data.map((t) => (
              <WolRow key={t.mac} target={t} admin={isAdmin} busy={act.busy}
                onWake={() => void run(() => wake(t.mac), `Magic packet sent to ${t.name || t.mac}.`)}
                onName={(name) => void run(() => nameMac(t.mac, name), 'Name saved.')}
                onForget={() => void run(() => forgetMac(t.mac), `${t.name || t.mac} removed.`)} />
            ))}
          </ul>
        )}
      </Card>
    </>
  );
}

function WolRow({ target, admin, busy, onWake, onName, onForget }: {
  target: WolTarget;
  admin: boolean;
  busy: boolean;
  onWake: () => void;
  onName: (name: string) => void;
  onForget: () => void;
}) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(target.name);
  return (
    <li data-testid={`wol-${target.mac}`}>
      {editing ? (
        <form className="wol-name" onSubmit={(e) => { e.preventDefault(); setEditing(false); onName(name.trim()); }}>
          <input aria-label={`Name for ${target.mac}`} value={name} autoFocus onChange={(e) => setName(e.target.value)} />
          <button className="btn small primary" type="submit" disabled={busy || !name.trim()}>Save</button>
          <button className="btn small" type="button" onClick={() => { setEditing(false); setName(target.name); }}>Cancel</button>
        </form>
      ) : (
        <span className="wol-target">
          {target.name && <b>{target.name}</b>} <code>{target.mac}</code>
        </span>
      )}
      <span className="row-actions">
        <button className="btn small" disabled={busy} onClick={onWake} aria-label={`Wake ${target.name || target.mac}`}>Wake</button>
        {admin && !editing && (
          <>
            <button className="btn small" disabled={busy} onClick={() => setEditing(true)}>Rename</button>
            <button className="btn small danger-outline" disabled={busy} onClick={onForget}
              aria-label={`Remove ${target.name || target.mac}`}>Remove</button>
          </>
        )}
      </span>
    </li>
  );
}
