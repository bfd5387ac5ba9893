// Keyboard report builder (spec §5.2, §7.3.1): 8 bytes = modifiers, 0, key1..key6.
// A full report is produced on every key down/up; at most 6 keys are held.
import { modifierBit, usageOf } from './keymap';

export const MAX_KEYS = 6;
export const EVENT_KEYBOARD = 1;

export class KeyboardState {
  private mods = 0;
  private keys: number[] = [];

  /** The current 8-byte report. */
  report(): Uint8Array {
    const r = new Uint8Array(8);
    r[0] = this.mods;
    this.keys.forEach((k, i) => (r[2 + i] = k));
    return r;
  }

  get held(): boolean {
    return this.mods !== 0 || this.keys.length > 0;
  }

  /** Key pressed: the new report, or null when nothing changed (unmapped, repeat, 7th key). */
  down(code: string): Uint8Array | null {
    const bit = modifierBit(code);
    if (bit) {
      if (this.mods & bit) return null;
      this.mods |= bit;
      return this.report();
    }
    const usage = usageOf(code);
    if (usage === undefined || this.keys.includes(usage) || this.keys.length >= MAX_KEYS) return null;
    this.keys.push(usage);
    return this.report();
  }

  /** Key released: the new report, or null when it was not held. */
  up(code: string): Uint8Array | null {
    const bit = modifierBit(code);
    if (bit) {
      if (!(this.mods & bit)) return null;
      this.mods &= ~bit;
      return this.report();
    }
    const usage = usageOf(code);
    const i = usage === undefined ? -1 : this.keys.indexOf(usage);
    if (i < 0) return null;
    this.keys.splice(i, 1);
    return this.report();
  }

  /** Release everything: the all-zero report, or null when nothing was held. */
  releaseAll(): Uint8Array | null {
    if (!this.held) return null;
    this.mods = 0;
    this.keys = [];
    return this.report();
  }
}

/** The reports that press a key combination together and release it (special keys, shortcuts). */
export function comboReports(codes: readonly string[]): [Uint8Array, Uint8Array] {
  const k = new KeyboardState();
  for (const c of codes) k.down(c);
  const press = k.report();
  k.releaseAll();
  return [press, k.report()];
}

/** The /api/ws binary frame for a keyboard report: [1, ...report]. */
export function keyboardFrame(report: Uint8Array): Uint8Array {
  const f = new Uint8Array(9);
  f[0] = EVENT_KEYBOARD;
  f.set(report, 1);
  return f;
}
