import { describe, expect, it } from 'vitest';
import { fallbackMode, initialMode, latencyFrom, readStamp, stampCell } from './video';

/** RGBA pixels with two rows of 32 squares painted as the sim screen does (bit 31 first). */
function painted(clock: number, frame: number, cell: number, width: number): Uint8ClampedArray {
  const height = cell * 2;
  const data = new Uint8ClampedArray(width * height * 4);
  [frame, clock].forEach((value, row) => {
    for (let bit = 0; bit < 32; bit++) {
      const on = Math.floor(value / 2 ** (31 - bit)) % 2 === 1;
      for (let y = height - (row + 1) * cell; y < height - row * cell; y++) {
        for (let x = bit * cell; x < (bit + 1) * cell; x++) {
          const i = (y * width + x) * 4;
          data[i] = data[i + 1] = data[i + 2] = on ? 250 : 5;
          data[i + 3] = 255;
        }
      }
    }
  });
  return data;
}

describe('the sim screen stamp', () => {
  it('sizes its squares as the server paints them', () => {
    expect(stampCell(1080)).toBe(18);
    expect(stampCell(360)).toBe(8);
  });

  it('reads the clock and the frame number back', () => {
    const data = painted(0xdeadbeef, 4242, 18, 18 * 32);
    expect(readStamp(data, 18 * 32, 36, 18, 1)).toBe(0xdeadbeef);
    expect(readStamp(data, 18 * 32, 36, 18, 0)).toBe(4242);
  });

  it('refuses grey (not a stamp)', () => {
    const data = new Uint8ClampedArray(8 * 32 * 16 * 4).fill(128);
    expect(readStamp(data, 8 * 32, 16, 8, 1)).toBeNull();
  });

  it('takes the delay across the 2^32 wrap', () => {
    expect(latencyFrom(1000, 1080)).toBe(80);
    expect(latencyFrom(2 ** 32 - 10, 2 ** 32 + 30)).toBe(40);
  });
});

describe('the initial video mode', () => {
  it('keeps a stored mode the browser supports and falls back to MJPEG', () => {
    expect(initialMode('mjpeg')).toBe('mjpeg');
    expect(initialMode('bogus')).toBe(initialMode(null));
    expect(['webrtc', 'direct', 'mjpeg']).toContain(initialMode(null));
  });
});

describe('the mode after one the server cannot stream', () => {
  it('is a later one this browser has, MJPEG at the end', () => {
    // Node has neither RTCPeerConnection nor VideoDecoder: only MJPEG is left after any mode.
    expect(fallbackMode('webrtc')).toBe('mjpeg');
    expect(fallbackMode('direct')).toBe('mjpeg');
    expect(fallbackMode('mjpeg')).toBe('mjpeg');
  });
});
