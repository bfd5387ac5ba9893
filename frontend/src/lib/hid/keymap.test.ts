import { describe, expect, it } from 'vitest';
import { KEY_USAGES, isMapped, modifierBit, usageOf } from './keymap';

describe('keymap: KeyboardEvent.code -> HID usage', () => {
  it('letters a..z are 0x04..0x1d', () => {
    expect(usageOf('KeyA')).toBe(0x04);
    expect(usageOf('KeyH')).toBe(0x0b);
    expect(usageOf('KeyZ')).toBe(0x1d);
  });

  it('digits 1..9 are 0x1e..0x26, 0 is 0x27', () => {
    expect(usageOf('Digit1')).toBe(0x1e);
    expect(usageOf('Digit9')).toBe(0x26);
    expect(usageOf('Digit0')).toBe(0x27);
  });

  it('F1..F12 are 0x3a..0x45, F13..F24 are 0x68..0x73', () => {
    expect(usageOf('F1')).toBe(0x3a);
    expect(usageOf('F7')).toBe(0x40);
    expect(usageOf('F12')).toBe(0x45);
    expect(usageOf('F13')).toBe(0x68);
    expect(usageOf('F24')).toBe(0x73);
  });

  it('editing, arrows and navigation', () => {
    expect([usageOf('Enter'), usageOf('Escape'), usageOf('Backspace'), usageOf('Tab'), usageOf('Space')])
      .toEqual([0x28, 0x29, 0x2a, 0x2b, 0x2c]);
    expect([usageOf('ArrowRight'), usageOf('ArrowLeft'), usageOf('ArrowDown'), usageOf('ArrowUp')])
      .toEqual([0x4f, 0x50, 0x51, 0x52]);
    expect([usageOf('Insert'), usageOf('Home'), usageOf('PageUp'), usageOf('Delete'), usageOf('End'), usageOf('PageDown')])
      .toEqual([0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e]);
    expect([usageOf('PrintScreen'), usageOf('ScrollLock'), usageOf('Pause'), usageOf('CapsLock'), usageOf('ContextMenu')])
      .toEqual([0x46, 0x47, 0x48, 0x39, 0x65]);
  });

  it('keypad', () => {
    expect([usageOf('NumLock'), usageOf('NumpadDivide'), usageOf('NumpadMultiply'), usageOf('NumpadSubtract'), usageOf('NumpadAdd'), usageOf('NumpadEnter')])
      .toEqual([0x53, 0x54, 0x55, 0x56, 0x57, 0x58]);
    expect(usageOf('Numpad1')).toBe(0x59);
    expect(usageOf('Numpad9')).toBe(0x61);
    expect(usageOf('Numpad0')).toBe(0x62);
    expect(usageOf('NumpadDecimal')).toBe(0x63);
    expect(usageOf('NumpadEqual')).toBe(0x67);
  });

  it('punctuation including the ISO key IntlBackslash 0x64', () => {
    const codes = ['Minus', 'Equal', 'BracketLeft', 'BracketRight', 'Backslash', 'Semicolon', 'Quote', 'Backquote', 'Comma', 'Period', 'Slash'];
    expect(codes.map(usageOf)).toEqual([0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38]);
    expect(usageOf('IntlBackslash')).toBe(0x64);
    expect(usageOf('IntlRo')).toBe(0x87);
    expect(usageOf('IntlYen')).toBe(0x89);
  });

  it('modifiers are bits, not usages: left 0x01/0x02/0x04/0x08, right 0x10/0x20/0x40/0x80', () => {
    expect(['ControlLeft', 'ShiftLeft', 'AltLeft', 'MetaLeft'].map(modifierBit)).toEqual([0x01, 0x02, 0x04, 0x08]);
    expect(['ControlRight', 'ShiftRight', 'AltRight', 'MetaRight'].map(modifierBit)).toEqual([0x10, 0x20, 0x40, 0x80]);
    expect(modifierBit('OSLeft')).toBe(0x08);
    expect(usageOf('ControlLeft')).toBeUndefined();
    expect(modifierBit('KeyA')).toBe(0);
  });

  it('unknown codes are not mapped (and stay with the browser)', () => {
    expect(usageOf('')).toBeUndefined();
    expect(usageOf('Unidentified')).toBeUndefined();
    expect(usageOf('toString')).toBeUndefined();
    expect(isMapped('Fn')).toBe(false);
    expect(isMapped('KeyQ')).toBe(true);
    expect(isMapped('ShiftRight')).toBe(true);
  });

  it('usages are unique and inside the keyboard page', () => {
    const values = Object.values(KEY_USAGES);
    expect(new Set(values).size).toBe(values.length);
    for (const v of values) expect(v).toBeGreaterThanOrEqual(0x04), expect(v).toBeLessThan(0xe0);
  });
});
