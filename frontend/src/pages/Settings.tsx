// The settings page (#/settings), loaded on demand (its own chunk): a side list of sections,
// each shaped by the account's role (viewers read, users change what users may, admins all).
import { useState, type KeyboardEvent } from 'react';
import type { Account } from '../lib/kvm';
import { visibleSections, type SectionId } from '../lib/settings';
import { Brand } from '../components/Brand';
import { ScreenSection } from './settings/ScreenSection';
import { DeviceSection } from './settings/DeviceSection';
import { HidSection } from './settings/HidSection';
import { WolSection } from './settings/WolSection';
import { UsersSection } from './settings/UsersSection';
import { AccountSection } from './settings/AccountSection';
import { VncSection } from './settings/VncSection';
import { AiSection } from './settings/AiSection';
import { SecuritySection } from './settings/SecuritySection';
import { AuditSection } from './settings/AuditSection';
import { RecordingsSection } from './settings/RecordingsSection';
import './settings/settings.css';

interface Props {
  account: Account;
  onBack: () => void;
  onChangePassword: () => void;
}

const LAST_SECTION_KEY = 'kvm-settings-section';

export function SettingsPage({ account, onBack, onChangePassword }: Props) {
  const sections = visibleSections(account.role);
  const [current, setCurrent] = useState<SectionId>(() => {
    const saved = sessionStorage.getItem(LAST_SECTION_KEY);
    return sections.find((s) => s.id === saved)?.id ?? sections[0].id;
  });

  function choose(id: SectionId) {
    sessionStorage.setItem(LAST_SECTION_KEY, id);
    setCurrent(id);
  }

  // Arrow keys move along the list, as in any tab list.
  function onKey(e: KeyboardEvent) {
    const step = e.key === 'ArrowDown' || e.key === 'ArrowRight' ? 1 : e.key === 'ArrowUp' || e.key === 'ArrowLeft' ? -1 : 0;
    if (!step) return;
    e.preventDefault();
    const i = sections.findIndex((s) => s.id === current);
    const next = sections[(i + step + sections.length) % sections.length];
    choose(next.id);
    document.getElementById(`tab-${next.id}`)?.focus();
  }

  return (
    <div className="desktop settings-page">
      <header className="topbar">
        <Brand small />
        <h1 className="topbar-title">Settings</h1>
        <span className="spacer" />
        <span className="user" data-testid="user">
          {account.username} <span className={`role ${account.role}`}>{account.role}</span>
        </span>
        <button className="btn ghost" onClick={onBack}>Back to desktop</button>
      </header>
      <div className="settings-body">
        <nav className="settings-nav" role="tablist" aria-label="Settings sections" aria-orientation="vertical" onKeyDown={onKey}>
          {sections.map((s) => (
            <button
              key={s.id}
              id={`tab-${s.id}`}
              role="tab"
              aria-selected={s.id === current}
              aria-controls="settings-panel"
              tabIndex={s.id === current ? 0 : -1}
              className={s.id === current ? 'settings-tab active' : 'settings-tab'}
              onClick={() => choose(s.id)}
            >
              {s.label}
            </button>
          ))}
        </nav>
        <main
          id="settings-panel"
          className="settings-panel"
          role="tabpanel"
          aria-labelledby={`tab-${current}`}
          data-testid="settings-panel"
          key={current}
        >
          {current === 'screen' && <ScreenSection account={account} />}
          {current === 'device' && <DeviceSection account={account} />}
          {current === 'hid' && <HidSection account={account} />}
          {current === 'wol' && <WolSection account={account} />}
          {current === 'users' && <UsersSection account={account} />}
          {current === 'vnc' && <VncSection account={account} />}
          {current === 'ai' && <AiSection />}
          {current === 'recordings' && <RecordingsSection />}
          {current === 'account' && <AccountSection account={account} onChangePassword={onChangePassword} />}
          {current === 'security' && <SecuritySection account={account} />}
          {current === 'audit' && <AuditSection />}
        </main>
      </div>
    </div>
  );
}
