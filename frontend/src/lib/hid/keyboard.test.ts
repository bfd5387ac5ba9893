import { describe, expect, it } from 'vitest';
import { KeyboardState, comboReports, keyboardFrame } from './keyboard';

const bytes = (u: Uint8Array | null) => (u ? Array.from(u) : null);

describe('keyboard reports', () => {
  it('a key down/up gives full 8-byte reports', () => {
    const k = new KeyboardState();
    expect(bytes(k.down('KeyH'))).toEqual([0, 0, 0x0b, 0, 0, 0, 0, 0]);
    expect(bytes(k.up('KeyH'))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('modifiers set and clear their bits; keys keep their order', () => {
    const k = new KeyboardState();
    expect(bytes(k.down('ShiftLeft'))).toEqual([0x02, 0, 0, 0, 0, 0, 0, 0]);
    expect(bytes(k.down('AltRight'))).toEqual([0x42, 0, 0, 0, 0, 0, 0, 0]);
    expect(bytes(k.down('KeyA'))).toEqual([0x42, 0, 0x04, 0, 0, 0, 0, 0]);
    expect(bytes(k.down('Digit1'))).toEqual([0x42, 0, 0x04, 0x1e, 0, 0, 0, 0]);
    expect(bytes(k.up('KeyA'))).toEqual([0x42, 0, 0x1e, 0, 0, 0, 0, 0]);
    expect(bytes(k.up('ShiftLeft'))).toEqual([0x40, 0, 0x1e, 0, 0, 0, 0, 0]);
    expect(bytes(k.down('ControlRight'))).toEqual([0x50, 0, 0x1e, 0, 0, 0, 0, 0]);
    expect(bytes(k.down('MetaLeft'))).toEqual([0x58, 0, 0x1e, 0, 0, 0, 0, 0]);
  });

  it('at most 6 keys; a 7th is ignored; a released slot is reused', () => {
    const k = new KeyboardState();
    for (const c of ['KeyA', 'KeyB', 'KeyC', 'KeyD', 'KeyE', 'KeyF']) k.down(c);
    expect(bytes(k.report())).toEqual([0, 0, 4, 5, 6, 7, 8, 9]);
    expect(k.down('KeyG')).toBeNull();
    expect(bytes(k.down('ControlLeft'))).toEqual([1, 0, 4, 5, 6, 7, 8, 9]); // modifiers still work
    expect(bytes(k.up('KeyC'))).toEqual([1, 0, 4, 5, 7, 8, 9, 0]);
    expect(bytes(k.down('KeyG'))).toEqual([1, 0, 4, 5, 7, 8, 9, 10]);
    expect(k.up('KeyZ')).toBeNull();
  });

  it('auto-repeat and unknown keys send nothing', () => {
    const k = new KeyboardState();
    k.down('KeyA');
    expect(k.down('KeyA')).toBeNull();
    k.down('ShiftLeft');
    expect(k.down('ShiftLeft')).toBeNull();
    expect(k.down('Fn')).toBeNull();
    expect(k.up('Fn')).toBeNull();
    expect(k.up('ShiftRight')).toBeNull();
  });

  it('releaseAll gives one all-zero report, then nothing', () => {
    const k = new KeyboardState();
    expect(k.releaseAll()).toBeNull();
    k.down('ShiftRight');
    k.down('KeyQ');
    expect(k.held).toBe(true);
    expect(bytes(k.releaseAll())).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(k.held).toBe(false);
    expect(k.releaseAll()).toBeNull();
  });

  it('combos press together then release', () => {
    const [press, release] = comboReports(['ControlLeft', 'AltLeft', 'Delete']);
    expect(bytes(press)).toEqual([0x05, 0, 0x4c, 0, 0, 0, 0, 0]);
    expect(bytes(release)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(bytes(comboReports(['ControlLeft', 'AltLeft', 'F2'])[0])).toEqual([0x05, 0, 0x3b, 0, 0, 0, 0, 0]);
    expect(bytes(comboReports(['MetaLeft'])[0])).toEqual([0x08, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('the ws frame is [1, ...report]', () => {
    expect(Array.from(keyboardFrame(Uint8Array.of(2, 0, 4, 0, 0, 0, 0, 0)))).toEqual([1, 2, 0, 4, 0, 0, 0, 0, 0]);
  });
});
