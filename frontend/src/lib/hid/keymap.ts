// KeyboardEvent.code -> USB HID usage (Keyboard/Keypad page 0x07), spec §5.2.
// Modifiers are not usages in the report's key array but bits of byte 0.

/** Modifier bits of report byte 0: left Ctrl/Shift/Alt/Meta, then right. */
export const MODIFIER_BITS: Readonly<Record<string, number>> = {
  ControlLeft: 0x01,
  ShiftLeft: 0x02,
  AltLeft: 0x04,
  MetaLeft: 0x08,
  OSLeft: 0x08, // older Firefox
  ControlRight: 0x10,
  ShiftRight: 0x20,
  AltRight: 0x40,
  MetaRight: 0x80,
  OSRight: 0x80,
};

const table: Record<string, number> = {
  Enter: 0x28,
  Escape: 0x29,
  Backspace: 0x2a,
  Tab: 0x2b,
  Space: 0x2c,
  Minus: 0x2d,
  Equal: 0x2e,
  BracketLeft: 0x2f,
  BracketRight: 0x30,
  Backslash: 0x31,
  Semicolon: 0x33,
  Quote: 0x34,
  Backquote: 0x35,
  Comma: 0x36,
  Period: 0x37,
  Slash: 0x38,
  CapsLock: 0x39,
  PrintScreen: 0x46,
  ScrollLock: 0x47,
  Pause: 0x48,
  Insert: 0x49,
  Home: 0x4a,
  PageUp: 0x4b,
  Delete: 0x4c,
  End: 0x4d,
  PageDown: 0x4e,
  ArrowRight: 0x4f,
  ArrowLeft: 0x50,
  ArrowDown: 0x51,
  ArrowUp: 0x52,
  NumLock: 0x53,
  NumpadDivide: 0x54,
  NumpadMultiply: 0x55,
  NumpadSubtract: 0x56,
  NumpadAdd: 0x57,
  NumpadEnter: 0x58,
  NumpadDecimal: 0x63,
  IntlBackslash: 0x64,
  ContextMenu: 0x65,
  Power: 0x66,
  NumpadEqual: 0x67,
  Help: 0x75,
  Props: 0x76,
  Select: 0x77,
  Again: 0x79,
  Undo: 0x7a,
  Cut: 0x7b,
  Copy: 0x7c,
  Paste: 0x7d,
  Find: 0x7e,
  AudioVolumeMute: 0x7f,
  AudioVolumeUp: 0x80,
  AudioVolumeDown: 0x81,
  NumpadComma: 0x85,
  IntlRo: 0x87,
  KanaMode: 0x88,
  IntlYen: 0x89,
  Convert: 0x8a,
  NonConvert: 0x8b,
  Lang1: 0x90,
  Lang2: 0x91,
  NumpadParenLeft: 0xb6,
  NumpadParenRight: 0xb7,
};
for (let i = 0; i < 26; i++) table[`Key${String.fromCharCode(65 + i)}`] = 0x04 + i;
for (let i = 1; i <= 9; i++) table[`Digit${i}`] = 0x1d + i;
table.Digit0 = 0x27;
for (let i = 1; i <= 12; i++) table[`F${i}`] = 0x39 + i; // F1 0x3a .. F12 0x45
for (let i = 13; i <= 24; i++) table[`F${i}`] = 0x5b + i; // F13 0x68 .. F24 0x73
for (let i = 1; i <= 9; i++) table[`Numpad${i}`] = 0x58 + i; // Numpad1 0x59 .. Numpad9 0x61
table.Numpad0 = 0x62;

/** Non-modifier usages by KeyboardEvent.code. */
export const KEY_USAGES: Readonly<Record<string, number>> = table;

/** HID usage of a non-modifier key, or undefined. */
export const usageOf = (code: string): number | undefined =>
  Object.prototype.hasOwnProperty.call(table, code) ? table[code] : undefined;

/** Modifier bit of a modifier key, or 0. */
export const modifierBit = (code: string): number =>
  Object.prototype.hasOwnProperty.call(MODIFIER_BITS, code) ? MODIFIER_BITS[code] : 0;

/** Whether the key is sent to the host (and so kept from the browser). */
export const isMapped = (code: string): boolean => modifierBit(code) !== 0 || usageOf(code) !== undefined;
