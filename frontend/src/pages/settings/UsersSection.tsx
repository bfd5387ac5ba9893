// Users and roles (admin): list, add, change role, enable/disable, reset password, delete.
// Passwords travel with the AES transport, as at login. The server has the last word (last
// admin, the device owner, oneself): its text is shown when it refuses.
import { useState, type FormEvent } from 'react';
import type { Account, Role } from '../../lib/kvm';
import {
  ROLES, ROLE_HELP, createUser, deleteUser, listUsers, newPasswordError, setUserPassword, updateUser,
  type UserEntry,
} from '../../lib/settings';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { Card, LoadState, OutcomeLine, Select, Switch, useAction, useLoad } from './parts';

export function UsersSection({ account }: { account: Account }) {
  const users = useLoad(listUsers);
  const act = useAction();
  const [deleting, setDeleting] = useState<string | null>(null);
  const [resetting, setResetting] = useState<string | null>(null);

  async function change(fn: () => Promise<unknown>, done: string) {
    await act.run(fn, done, users.reload);
  }

  return (
    <>
      <Card title="Users" note="Changing a user's role, disabling or deleting them ends their sessions at once.">
        <LoadState loaded={users} />
        {users.data && (
          <div className="table-wrap">
            <table className="users" aria-label="Users">
              <thead>
                <tr><th>User</th><th>Role</th><th>Enabled</th><th><span className="sr-only">Actions</span></th></tr>
              </thead>
              <tbody>
                {users.data.map((u) => (
                  <UserRow
                    key={u.username}
                    user={u}
                    self={u.username === account.username}
                    busy={act.busy}
                    onRole={(role) => void change(() => updateUser(u.username, { role }), `${u.username} is now ${role}.`)}
                    onEnabled={(enabled) =>
                      void change(() => updateUser(u.username, { enabled }), `${u.username} ${enabled ? 'enabled' : 'disabled'}.`)}
                    onReset={() => setResetting(u.username)}
                    onDelete={() => setDeleting(u.username)}
                  />
                ))}
              </tbody>
            </table>
          </div>
        )}
        <OutcomeLine outcome={act.outcome} />
      </Card>

      <AddUser onAdded={() => void users.reload()} />

      {deleting && (
        <ConfirmDialog
          title={`Delete ${deleting}?`}
          confirmLabel="Delete"
          danger
          onCancel={() => setDeleting(null)}
          onConfirm={() => {
            const name = deleting;
            setDeleting(null);
            void change(() => deleteUser(name), `${name} deleted.`);
          }}
        >
          The account and its sessions end now. This cannot be undone.
        </ConfirmDialog>
      )}
      {resetting && (
        <ResetPassword
          username={resetting}
          onClose={(done) => {
            const name = resetting;
            setResetting(null);
            if (done) act.done(`New password set for ${name}; their sessions have ended.`);
          }}
        />
      )}
    </>
  );
}

function UserRow({ user, self, busy, onRole, onEnabled, onReset, onDelete }: {
  user: UserEntry;
  self: boolean;
  busy: boolean;
  onRole: (r: Role) => void;
  onEnabled: (on: boolean) => void;
  onReset: () => void;
  onDelete: () => void;
}) {
  // Oneself and the device owner: the server refuses demotion, disabling and deletion; say so up front.
  const locked = self || !!user.systemAccount;
  const why = self ? 'You cannot change your own role or delete yourself.' : 'The device owner stays an enabled administrator.';
  return (
    <tr data-testid={`user-${user.username}`}>
      <td>
        <b>{user.username}</b>
        {self && <span className="tag">you</span>}
        {user.systemAccount && <span className="tag" title="The device owner account">owner</span>}
      </td>
      <td>
        <Select
          aria-label={`Role of ${user.username}`}
          value={user.role}
          choices={ROLES.map((r) => ({ value: r, label: r }))}
          disabled={busy || locked}
          title={locked ? why : ROLE_HELP[user.role]}
          onChange={(v) => onRole(v as Role)}
        />
      </td>
      <td>
        <Switch
          aria-label={`${user.username} enabled`}
          checked={user.enabled}
          disabled={busy || locked}
          title={locked ? why : undefined}
          onChange={onEnabled}
        />
      </td>
      <td className="row-actions">
        {!locked && (
          <>
            <button className="btn small" disabled={busy} onClick={onReset} aria-label={`Reset password of ${user.username}`}>
              Reset password
            </button>
            <button className="btn small danger-outline" disabled={busy} onClick={onDelete} aria-label={`Delete ${user.username}`}>
              Delete
            </button>
          </>
        )}
      </td>
    </tr>
  );
}

function AddUser({ onAdded }: { onAdded: () => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const act = useAction();

  async function submit(e: FormEvent) {
    e.preventDefault();
    const name = username.trim();
    if (!name) return act.fail('Please enter a user name.');
    const bad = newPasswordError(password, confirm);
    if (bad) return act.fail(bad);
    if (await act.run(() => createUser(name, password, role), `${name} added as ${role}.`)) {
      setUsername('');
      setPassword('');
      setConfirm('');
      onAdded();
    }
  }

  return (
    <Card title="Add a user">
      <form className="grid-form" onSubmit={submit} aria-label="Add a user">
        <div>
          <label>
            User name
            <input name="new-username" autoComplete="off" value={username} onChange={(e) => setUsername(e.target.value)} disabled={act.busy} />
          </label>
        </div>
        <div>
          <label>
            Role
            <select name="new-role" value={role} onChange={(e) => setRole(e.target.value as Role)} disabled={act.busy}>
              {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
            </select>
          </label>
          <span className="hint">{ROLE_HELP[role]}</span>
        </div>
        <div>
          <label>
            Password
            <input name="new-user-password" type="password" autoComplete="new-password" value={password}
              onChange={(e) => setPassword(e.target.value)} disabled={act.busy} />
          </label>
          <span className="hint">8 to 72 characters (bytes).</span>
        </div>
        <div>
          <label>
            Confirm password
            <input name="new-user-confirm" type="password" autoComplete="new-password" value={confirm}
              onChange={(e) => setConfirm(e.target.value)} disabled={act.busy} />
          </label>
        </div>
        <div className="form-actions">
          <button className="btn primary" type="submit" disabled={act.busy}>{act.busy ? 'Adding…' : 'Add user'}</button>
        </div>
      </form>
      <OutcomeLine outcome={act.outcome} />
    </Card>
  );
}

function ResetPassword({ username, onClose }: { username: string; onClose: (done: boolean) => void }) {
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const act = useAction();

  async function submit(e: FormEvent) {
    e.preventDefault();
    const bad = newPasswordError(password, confirm);
    if (bad) return act.fail(bad);
    if (await act.run(() => setUserPassword(username, password))) onClose(true);
  }

  return (
    <div className="backdrop" onClick={() => onClose(false)}>
      <form
        className="card dialog"
        role="dialog"
        aria-modal="true"
        aria-label={`New password for ${username}`}
        onClick={(e) => e.stopPropagation()}
        onSubmit={submit}
      >
        <h2>New password for {username}</h2>
        <label>
          New password
          <input type="password" autoComplete="new-password" autoFocus value={password}
            onChange={(e) => setPassword(e.target.value)} disabled={act.busy} />
        </label>
        <label>
          Confirm new password
          <input type="password" autoComplete="new-password" value={confirm}
            onChange={(e) => setConfirm(e.target.value)} disabled={act.busy} />
        </label>
        <OutcomeLine outcome={act.outcome} />
        <div className="dialog-actions">
          <button type="button" className="btn" onClick={() => onClose(false)}>Cancel</button>
          <button type="submit" className="btn primary" disabled={act.busy}>Set password</button>
        </div>
      </form>
    </div>
  );
}
