import { describe, expect, it } from 'vitest';
import { WheelThrottle, absCoord, absPosition, absoluteFrame, containRect, hidButtons, relativeFrame, wheelStep } from './mouse';

describe('mouse reports', () => {
  it('containRect letterboxes and pillarboxes', () => {
    expect(containRect(1000, 1000, 1920, 1080)).toEqual({ left: 0, top: 218.75, width: 1000, height: 562.5 });
    expect(containRect(1000, 500, 800, 600)).toEqual({ left: 500 - 1000 / 3, top: 0, width: 2000 / 3, height: 500 });
    expect(containRect(640, 480, 0, 0)).toEqual({ left: 0, top: 0, width: 640, height: 480 });
  });

  it('absolute coordinates: floor(32767 * fraction) + 1, clamped', () => {
    expect(absCoord(0)).toBe(1);
    expect(absCoord(0.5)).toBe(16384);
    expect(absCoord(0.25)).toBe(8192);
    expect(absCoord(1)).toBe(32767);
    expect(absCoord(-0.2)).toBe(1);
    expect(absCoord(7)).toBe(32767);
    expect(absCoord(NaN)).toBe(1);
  });

  it('absPosition maps a point over the letterboxed picture', () => {
    const r = containRect(1000, 1000, 1920, 1080); // picture spans y 218.75..781.25
    expect(absPosition(500, 500, r)).toEqual([16384, 16384]);
    expect(absPosition(0, 218.75, r)).toEqual([1, 1]);
    expect(absPosition(1000, 100, r)).toEqual([32767, 1]); // in the black bar: clamped to the edge
  });

  it('absolute frame is [2, buttons, xLo, xHi, yLo, yHi, wheel] byte-exact', () => {
    expect(Array.from(absoluteFrame(1, 16384, 8192))).toEqual([2, 1, 0x00, 0x40, 0x00, 0x20, 0]);
    expect(Array.from(absoluteFrame(0x1f, 32767, 1, -1))).toEqual([2, 0x1f, 0xff, 0x7f, 0x01, 0x00, 0xff]);
    expect(Array.from(absoluteFrame(0xff, 0x1234, 0x0abc, 1))).toEqual([2, 0x1f, 0x34, 0x12, 0xbc, 0x0a, 1]);
  });

  it('relative frame is [2, buttons, dx, dy, wheel] int8, clamped to ±127', () => {
    expect(Array.from(relativeFrame(0, 5, -3))).toEqual([2, 0, 5, 0xfd, 0]);
    expect(Array.from(relativeFrame(2, 300, -300, 1))).toEqual([2, 2, 127, 0x81, 1]);
    expect(Array.from(relativeFrame(4, 1.7, -1.7, -1))).toEqual([2, 4, 1, 0xff, 0xff]);
  });

  it('DOM buttons map 1:1 to HID bits (left, right, middle, back, forward)', () => {
    expect(hidButtons(1)).toBe(0x01);
    expect(hidButtons(2)).toBe(0x02);
    expect(hidButtons(4)).toBe(0x04);
    expect(hidButtons(8)).toBe(0x08);
    expect(hidButtons(16)).toBe(0x10);
    expect(hidButtons(0xff)).toBe(0x1f);
  });

  it('wheel: down is -1, up is +1, throttled', () => {
    expect(wheelStep(120)).toBe(-1);
    expect(wheelStep(-3)).toBe(1);
    expect(wheelStep(0)).toBe(0);
    const t = new WheelThrottle(60);
    expect(t.take(100, 1000)).toBe(-1);
    expect(t.take(100, 1030)).toBe(0);
    expect(t.take(-100, 1059)).toBe(0);
    expect(t.take(-100, 1060)).toBe(1);
    expect(t.take(0, 2000)).toBe(0);
  });
});
