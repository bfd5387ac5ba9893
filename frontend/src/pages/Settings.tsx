import type { Account } from '../lib/kvm';
import { Brand } from '../components/Brand';

interface Props {
  account: Account;
  onBack: () => void;
  onChangePassword: () => void;
}

// Settings (screen, users, device, HID, network...). Placeholder until the settings pages land.
export function SettingsPage({ onBack }: Props) {
  return (
    <div className="desktop">
      <header className="topbar">
        <Brand small />
        <span className="spacer" />
        <button className="btn ghost" onClick={onBack}>Back to desktop</button>
      </header>
    </div>
  );
}
