// Keyboard & mouse: the USB mode (everyone reads, admin switches, asked first: the host's
// USB devices reconnect) and the mouse jiggler (admin).
import { useState } from 'react';
import type { Account } from '../../lib/kvm';
import { atLeast, getHidMode, getJiggler, setHidMode, setJiggler, type HidMode, type JigglerMode } from '../../lib/settings';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { Card, LoadState, OutcomeLine, SelectRow, SwitchRow, Value, useAction, useLoad } from './parts';

const MODES: ReadonlyArray<{ value: HidMode; label: string }> = [
  { value: 'normal', label: 'Normal: keyboard, mouse, virtual disk and network' },
  { value: 'hid-only', label: 'Keyboard and mouse only (for picky BIOSes)' },
];
const JIGGLE: ReadonlyArray<{ value: JigglerMode; label: string }> = [
  { value: 'absolute', label: 'Absolute pointer' },
  { value: 'relative', label: 'Relative mouse' },
];

export function HidSection({ account }: { account: Account }) {
  const isAdmin = atLeast(account.role, 'admin');
  return (
    <>
      <UsbMode editable={isAdmin} />
      {isAdmin ? <MouseJiggler /> : <p className="muted small">Only administrators can change these settings.</p>}
    </>
  );
}

function UsbMode({ editable }: { editable: boolean }) {
  const mode = useLoad(getHidMode);
  const act = useAction();
  const [asking, setAsking] = useState<HidMode | null>(null);
  const label = (m: HidMode) => MODES.find((x) => x.value === m)?.label ?? m;

  return (
    <Card title="USB mode">
      <LoadState loaded={mode} />
      {mode.data && (editable ? (
        <SelectRow label="Devices the host sees" value={mode.data} choices={MODES} disabled={act.busy}
          optimistic={false} onChange={(v) => setAsking(v as HidMode)} />
      ) : (
        <Value label="Devices the host sees" value={label(mode.data)} testId="hid-mode" />
      ))}
      <OutcomeLine outcome={act.outcome} />
      {asking && (
        <ConfirmDialog
          title="Switch the USB mode?"
          confirmLabel="Switch"
          danger
          onCancel={() => setAsking(null)}
          onConfirm={() => {
            const m = asking;
            setAsking(null);
            void act.run(() => setHidMode(m), `USB mode: ${label(m)}.`, mode.reload);
          }}
        >
          The host's keyboard, mouse{asking === 'hid-only' ? ', virtual disk and network card disconnect' : ' disconnect'} for
          a moment while the USB devices are rebuilt.
        </ConfirmDialog>
      )}
    </Card>
  );
}

function MouseJiggler() {
  const jig = useLoad(getJiggler);
  const act = useAction();
  // The server reports a mode only while on; the choice made while off is kept here.
  const [chosen, setChosen] = useState<JigglerMode | null>(null);
  const mode = jig.data?.enabled ? jig.data.mode : chosen ?? jig.data?.mode ?? 'absolute';

  async function set(enabled: boolean, m: JigglerMode) {
    setChosen(m);
    await act.run(() => setJiggler({ enabled, mode: m }), enabled ? 'Mouse jiggler on.' : 'Mouse jiggler off.', jig.reload);
  }

  return (
    <Card title="Mouse jiggler" note="Nudges the pointer when nobody has used it for a while, so the host does not sleep or lock.">
      <LoadState loaded={jig} />
      {jig.data && (
        <>
          <SwitchRow label="Mouse jiggler" checked={jig.data.enabled} disabled={act.busy}
            onChange={(on) => void set(on, mode)} />
          <SelectRow label="Jiggle with" value={mode} choices={JIGGLE} disabled={act.busy}
            onChange={(v) => (jig.data!.enabled ? void set(true, v as JigglerMode) : setChosen(v as JigglerMode))}
            hint="Absolute suits most hosts." />
        </>
      )}
      <OutcomeLine outcome={act.outcome} />
    </Card>
  );
}
