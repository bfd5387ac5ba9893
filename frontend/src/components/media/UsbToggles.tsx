import type { VirtualDevice, VirtualDevices } from '../../lib/media';

interface Props {
  devices: VirtualDevices | null;
  busy: VirtualDevice | null;
  disabled: boolean;
  onToggle: (device: VirtualDevice) => void;
}

const ROWS: ReadonlyArray<{ device: VirtualDevice; label: string; hint: string }> = [
  { device: 'network', label: 'USB network', hint: 'A network card on the host, linked to this device' },
  { device: 'disk', label: 'USB disk', hint: 'The drive that carries the mounted image' },
];

/** The host's virtual USB network card and disk (each switch rebuilds the USB gadget). */
export function UsbToggles({ devices, busy, disabled, onToggle }: Props) {
  return (
    <div className="usb-toggles">
      {ROWS.map(({ device, label, hint }) => {
        const on = devices ? devices[device] : null;
        return (
          <div className="switch-row" key={device} title={hint}>
            <span className="switch-label">{label}</span>
            <span className="small muted">{busy === device ? 'Switching…' : on === null ? '—' : on ? 'On' : 'Off'}</span>
            <button
              type="button"
              role="switch"
              className="switch"
              aria-label={label}
              aria-checked={on ?? false}
              data-testid={`usb-${device}`}
              disabled={disabled || on === null || busy !== null}
              onClick={() => onToggle(device)}
            >
              <span />
            </button>
          </div>
        );
      })}
    </div>
  );
}
