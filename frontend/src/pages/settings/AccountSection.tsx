// Your account: who you are and what your role allows; the password itself is changed on the
// existing password page (#/password), which every role may use.
import type { Account } from '../../lib/kvm';
import { ROLE_HELP } from '../../lib/settings';
import { Card, Value } from './parts';

export function AccountSection({ account, onChangePassword }: { account: Account; onChangePassword: () => void }) {
  return (
    <Card title="Your account">
      <Value label="User" value={account.username} testId="account-user" />
      <Value label="Role" value={<><span className={`role ${account.role}`}>{account.role}</span> <span className="muted small">{ROLE_HELP[account.role]}</span></>} />
      <div className="srow-actions">
        <button className="btn" onClick={onChangePassword}>Change password</button>
        <span className="hint">You will log in again afterwards.</span>
      </div>
    </Card>
  );
}
