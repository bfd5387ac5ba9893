// Mouse reports for /api/ws (spec §5.1, §5.2, §7.3.1).
//   absolute: [2, buttons, xLo, xHi, yLo, yHi, wheel]  x,y = floor(32767 * fraction) + 1
//   relative: [2, buttons, dx, dy, wheel]               int8, clamped to ±127
// Buttons: bit0 left, bit1 right, bit2 middle, bit3 back, bit4 forward, which is
// exactly the DOM MouseEvent.buttons bitmask.
export const EVENT_MOUSE = 2;
export const ABS_MAX = 32767;

export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The picture's rectangle inside a box with object-fit: contain (letterboxed, centred). */
export function containRect(boxW: number, boxH: number, natW: number, natH: number): Rect {
  if (!(natW > 0 && natH > 0 && boxW > 0 && boxH > 0)) return { left: 0, top: 0, width: boxW, height: boxH };
  const wide = boxW * natH > boxH * natW; // box wider than the picture: bars left and right
  const width = wide ? (boxH * natW) / natH : boxW;
  const height = wide ? boxH : (boxW * natH) / natW;
  return { left: (boxW - width) / 2, top: (boxH - height) / 2, width, height };
}

/** Absolute coordinate for a position across the picture (fraction clamped to 0..1). */
export function absCoord(fraction: number): number {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  return Math.min(ABS_MAX, Math.floor(ABS_MAX * f) + 1);
}

/** Absolute position of a point (relative to the box) over the letterboxed picture. */
export function absPosition(px: number, py: number, r: Rect): [number, number] {
  return [absCoord((px - r.left) / r.width), absCoord((py - r.top) / r.height)];
}

export const hidButtons = (domButtons: number): number => domButtons & 0x1f;

const int8 = (v: number) => Math.max(-127, Math.min(127, Math.trunc(v))) & 0xff;

export function absoluteFrame(buttons: number, x: number, y: number, wheel = 0): Uint8Array {
  return Uint8Array.of(EVENT_MOUSE, buttons & 0x1f, x & 0xff, (x >> 8) & 0xff, y & 0xff, (y >> 8) & 0xff, int8(wheel));
}

export function relativeFrame(buttons: number, dx: number, dy: number, wheel = 0): Uint8Array {
  return Uint8Array.of(EVENT_MOUSE, buttons & 0x1f, int8(dx), int8(dy), int8(wheel));
}

/** Wheel step for a DOM WheelEvent.deltaY: scrolling down (positive) is -1 in HID. */
export const wheelStep = (deltaY: number): number => (deltaY > 0 ? -1 : deltaY < 0 ? 1 : 0);

/** Lets one wheel step through per interval (touchpads fire dozens of events per gesture). */
export class WheelThrottle {
  private last = -Infinity;
  constructor(private readonly intervalMs = 60) {}
  take(deltaY: number, now: number): number {
    const step = wheelStep(deltaY);
    if (!step || now - this.last < this.intervalMs) return 0;
    this.last = now;
    return step;
  }
}
