import { useState } from 'react';
import { errorText } from '../lib/api';
import { press, type Gpio, type PressType } from '../lib/kvm';
import { Led } from './Led';
import { ConfirmDialog } from './ConfirmDialog';

export const SHORT_PRESS_MS = 800;
export const LONG_PRESS_MS = 5000;

interface Action {
  id: 'power' | 'force-off' | 'reset';
  type: PressType;
  duration: number;
  label: string;
  busyLabel: string;
}

const ACTIONS: Record<Action['id'], Action> = {
  power: { id: 'power', type: 'power', duration: SHORT_PRESS_MS, label: 'Power', busyLabel: 'Pressing power…' },
  reset: { id: 'reset', type: 'reset', duration: SHORT_PRESS_MS, label: 'Reset', busyLabel: 'Pressing reset…' },
  'force-off': {
    id: 'force-off',
    type: 'power',
    duration: LONG_PRESS_MS,
    label: 'Force off',
    busyLabel: 'Holding power for 5 s…',
  },
};

interface Props {
  gpio: Gpio | null;
  gpioError: string | null;
  controls: boolean;
  onPressed: () => void;
}

export function PowerPanel({ gpio, gpioError, controls, onPressed }: Props) {
  const [pressing, setPressing] = useState<Action | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  async function run(a: Action) {
    setConfirming(false);
    setError(null);
    setDone(null);
    setPressing(a);
    try {
      await press(a.type, a.duration);
      setDone(`${a.label} pressed.`);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setPressing(null);
      onPressed();
    }
  }

  return (
    <section className="card panel" aria-label="Power">
      <h2>Host power</h2>
      <div className="leds">
        <Led label="Power" color="green" on={gpio ? gpio.pwr : null} testId="led-power" />
        <Led label="HDD" color="amber" on={gpio ? gpio.hdd : null} testId="led-hdd" />
      </div>
      {gpioError && <p className="error small" role="alert">Status unavailable: {gpioError}</p>}

      {controls ? (
        <>
          <div className="actions">
            <button className="btn primary" disabled={!!pressing} onClick={() => run(ACTIONS.power)}
              title="Short press of the power button (0.8 s)">
              <PowerIcon /> Power
            </button>
            <button className="btn" disabled={!!pressing} onClick={() => run(ACTIONS.reset)}
              title="Press the reset button (0.8 s)">
              <ResetIcon /> Reset
            </button>
            <button className="btn danger-outline" disabled={!!pressing} onClick={() => setConfirming(true)}
              title="Hold the power button for 5 s to force the host off">
              Force off
            </button>
          </div>
          <div className="press-status" aria-live="polite">
            {pressing ? (
              <>
                <span>{pressing.busyLabel}</span>
                <span className="progress">
                  <span style={{ animationDuration: `${pressing.duration}ms` }} />
                </span>
              </>
            ) : error ? (
              <span className="error" role="alert">{error}</span>
            ) : done ? (
              <span className="muted">{done}</span>
            ) : (
              <span className="muted">Power: short press. Force off: hold 5 s.</span>
            )}
          </div>
        </>
      ) : (
        <p className="muted small">Your account can view the state but not press the buttons.</p>
      )}

      {confirming && (
        <ConfirmDialog
          title="Force the host off?"
          confirmLabel="Force off"
          danger
          onConfirm={() => run(ACTIONS['force-off'])}
          onCancel={() => setConfirming(false)}
        >
          This holds the power button for 5 seconds. The host turns off immediately, without shutting
          down; unsaved work on it is lost.
        </ConfirmDialog>
      )}
    </section>
  );
}

function PowerIcon() {
  return (
    <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true">
      <path d="M12 3v8M7 6.3a7 7 0 1 0 10 0" fill="none" stroke="currentColor" strokeWidth="2.2" strokeLinecap="round" />
    </svg>
  );
}

function ResetIcon() {
  return (
    <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true">
      <path d="M4 12a8 8 0 1 0 2.4-5.7M4 4v4h4" fill="none" stroke="currentColor" strokeWidth="2.2" strokeLinecap="round" strokeLinejoin="round" />
    </svg>
  );
}
