import { useEffect, useRef, useState } from 'react';
import type { Shortcut } from '../lib/kvm';

export interface Combo {
  label: string;
  codes: string[];
}

const C = (label: string, ...codes: string[]): Combo => ({ label, codes });

export const SPECIAL_KEYS: Combo[] = [
  C('Ctrl+Alt+Del', 'ControlLeft', 'AltLeft', 'Delete'),
  C('Ctrl+Alt+Backspace', 'ControlLeft', 'AltLeft', 'Backspace'),
  ...[1, 2, 3, 4, 5, 6, 7].map((n) => C(`Ctrl+Alt+F${n}`, 'ControlLeft', 'AltLeft', `F${n}`)),
  C('Win', 'MetaLeft'),
  C('Win+R', 'MetaLeft', 'KeyR'),
  C('Win+L', 'MetaLeft', 'KeyL'),
  C('Alt+Tab', 'AltLeft', 'Tab'),
  C('Alt+F4', 'AltLeft', 'F4'),
  C('Ctrl+Esc', 'ControlLeft', 'Escape'),
  C('Esc', 'Escape'),
  C('PrintScreen', 'PrintScreen'),
  C('Alt+PrintScreen', 'AltLeft', 'PrintScreen'),
  C('F11', 'F11'),
  C('F12', 'F12'),
  C('Pause/Break', 'Pause'),
  C('Menu', 'ContextMenu'),
];

interface Props {
  shortcuts: Shortcut[];
  onCombo: (c: Combo) => void;
  disabled?: boolean;
}

/** "Keys" drop-down: special key combinations and the saved shortcuts, each pressed then released. */
export function KeysMenu({ shortcuts, onCombo, disabled }: Props) {
  const [open, setOpen] = useState(false);
  const rootRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!open) return;
    const onDown = (e: PointerEvent) => !rootRef.current?.contains(e.target as Node) && setOpen(false);
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && setOpen(false);
    document.addEventListener('pointerdown', onDown);
    window.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('pointerdown', onDown);
      window.removeEventListener('keydown', onKey);
    };
  }, [open]);

  const saved: Combo[] = shortcuts.map((s) => ({
    label: s.keys.map((k) => k.label || k.code).join('+'),
    codes: s.keys.map((k) => k.code),
  }));

  function pick(c: Combo) {
    setOpen(false);
    onCombo(c);
  }

  return (
    <div className="menu-root" ref={rootRef}>
      <button
        className="btn small"
        aria-haspopup="menu"
        aria-expanded={open}
        disabled={disabled}
        onClick={() => setOpen((o) => !o)}
      >
        Keys ▾
      </button>
      {open && (
        <div className="menu card" role="menu" aria-label="Special keys">
          {SPECIAL_KEYS.map((c) => (
            <button key={c.label} role="menuitem" className="menu-item" onClick={() => pick(c)}>{c.label}</button>
          ))}
          {saved.length > 0 && <div className="menu-sep">Saved shortcuts</div>}
          {saved.map((c, i) => (
            <button key={shortcuts[i].id} role="menuitem" className="menu-item" onClick={() => pick(c)}>{c.label}</button>
          ))}
        </div>
      )}
    </div>
  );
}
