// The screen's video: H.264 over WebRTC (/api/stream/h264), H.264 over a WebSocket decoded with
// WebCodecs (/api/stream/h264/direct), or MJPEG (/api/stream/mjpeg). H.264 is the default where the
// browser can: WebRTC first, then WebCodecs, else MJPEG. Wire formats: spec 6.2 and 6.3.

export type VideoMode = 'webrtc' | 'direct' | 'mjpeg';
export const VIDEO_MODE_KEY = 'kvm-video-mode';
export const VIDEO_MODES: VideoMode[] = ['webrtc', 'direct', 'mjpeg'];
export const DIRECT_CODEC = 'avc1.42E02A';
export const FLOW_WINDOW = 8;
const HEARTBEAT_MS = 60_000;
/** The close code of an H.264 route on a board that cannot stream it (PyAV or aiortc missing). */
export const UNAVAILABLE = 1011;

export function supported(mode: VideoMode): boolean {
  if (mode === 'webrtc') return typeof RTCPeerConnection !== 'undefined';
  if (mode === 'direct') return typeof VideoDecoder !== 'undefined';
  return true;
}

export function initialMode(stored: string | null): VideoMode {
  if (stored && (VIDEO_MODES as string[]).includes(stored) && supported(stored as VideoMode)) {
    return stored as VideoMode;
  }
  return VIDEO_MODES.find(supported) ?? 'mjpeg';
}

/** The next mode to try when ``mode`` is not available on the server: a later one this browser has. */
export function fallbackMode(mode: VideoMode): VideoMode {
  return VIDEO_MODES.slice(VIDEO_MODES.indexOf(mode) + 1).find(supported) ?? 'mjpeg';
}

export function streamUrl(path: string): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${path}`;
}

/** Measured from what arrives: frames shown per second, bits per second, and glass-to-glass delay. */
export interface VideoStats {
  fps: number;
  kbps: number;
  latencyMs: number | null;
}

export class StatsMeter {
  private frames = 0;
  private bytes = 0;
  private since = performance.now();
  latencyMs: number | null = null;

  frame(bytes = 0): void {
    this.frames += 1;
    this.bytes += bytes;
  }

  addBytes(bytes: number): void {
    this.bytes += bytes;
  }

  /** The rates since the last call. */
  take(): VideoStats {
    const now = performance.now();
    const seconds = Math.max((now - this.since) / 1000, 0.001);
    const stats = { fps: this.frames / seconds, kbps: (this.bytes * 8) / 1000 / seconds, latencyMs: this.latencyMs };
    this.frames = 0;
    this.bytes = 0;
    this.since = now;
    return stats;
  }
}

// --- the sim screen's stamp ----------------------------------------------------------------------
// The sim PC paints two rows of 32 squares along the bottom edge (bit 31 first): the wall clock in
// ms mod 2^32 above, the frame number below. Each square's side is max(8, height / 60) px.

export function stampCell(height: number): number {
  return Math.max(8, Math.floor(height / 60));
}

/** The 32-bit value in row ``row`` (0 = bottom) of squares of side ``cell`` at the bottom of RGBA
 * pixels ``data`` (width x height), or null when the squares are not clean black and white (not the
 * sim's screen, or not decoded yet). */
export function readStamp(
  data: Uint8ClampedArray, width: number, height: number, cell: number, row: number,
): number | null {
  if (cell * 32 > width || cell * (row + 1) > height) return null;
  const y = height - row * cell - Math.floor(cell / 2) - 1;
  let value = 0;
  for (let bit = 0; bit < 32; bit++) {
    const x = bit * cell + Math.floor(cell / 2);
    const i = (y * width + x) * 4;
    const luma = (data[i] + data[i + 1] + data[i + 2]) / 3;
    if (luma > 60 && luma < 190) return null; // neither black nor white
    value = value * 2 + (luma >= 128 ? 1 : 0);
  }
  return value;
}

/** Glass-to-glass delay in ms from a frame's painted clock (both clocks on one machine). */
export function latencyFrom(stampMs: number, nowMs = Date.now()): number {
  return (nowMs % 2 ** 32) - stampMs + (nowMs % 2 ** 32 < stampMs ? 2 ** 32 : 0);
}

/** Reads the clock from a drawable (video or canvas) into a small scratch canvas. */
export function measureLatency(source: CanvasImageSource, width: number, height: number): number | null {
  if (!width || !height) return null;
  const cell = stampCell(height);
  const canvas = document.createElement('canvas');
  canvas.width = cell * 32;
  canvas.height = cell * 2;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) return null;
  ctx.drawImage(source, 0, height - cell * 2, cell * 32, cell * 2, 0, 0, cell * 32, cell * 2);
  const clock = readStamp(ctx.getImageData(0, 0, cell * 32, cell * 2).data, cell * 32, cell * 2, cell, 1);
  if (clock === null) return null;
  const latency = latencyFrom(clock);
  return latency >= 0 && latency < 60_000 ? latency : null;
}

// --- WebRTC ----------------------------------------------------------------------------------------

export interface Player {
  stop(): void;
}

interface Signal {
  event: string;
  data: string;
}

export interface PlayerEvents {
  /** The first frame is on screen. */
  onPlaying(): void;
  /** The stream broke; the caller restarts it. */
  onError(reason: string): void;
  /** Close code 4401: the session ended. */
  onEnded(): void;
  /** Close code 1011: the server cannot stream this mode (no H.264 on the board); the reason says why. */
  onUnavailable(reason: string): void;
  meter: StatsMeter;
}

export function startWebRtc(video: HTMLVideoElement, events: PlayerEvents): Player {
  const socket = new WebSocket(streamUrl('/api/stream/h264'));
  let pc: RTCPeerConnection | null = null;
  let stopped = false;
  const send = (event: string, data: unknown) => {
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ event, data: typeof data === 'string' ? data : JSON.stringify(data) }));
    }
  };
  const heartbeat = setInterval(() => send('heartbeat', ''), HEARTBEAT_MS);
  let statsTimer: ReturnType<typeof setInterval> | undefined;
  let lastBytes = 0;

  socket.onmessage = async (e) => {
    const message = JSON.parse(String(e.data)) as Signal;
    if (message.event === 'ice-servers') {
      // The peer connection is made only now, with the server's STUN/TURN list (spec 6.2).
      pc = new RTCPeerConnection({ iceServers: JSON.parse(message.data) as RTCIceServer[] });
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.onicecandidate = (c) => c.candidate && send('video-candidate', c.candidate.toJSON());
      pc.ontrack = (t) => {
        video.srcObject = t.streams[0] ?? new MediaStream([t.track]);
        void video.play().catch(() => {});
      };
      pc.onconnectionstatechange = () => {
        if (pc && (pc.connectionState === 'failed' || pc.connectionState === 'closed') && !stopped) {
          events.onError(`WebRTC ${pc.connectionState}`);
        }
      };
      await pc.setLocalDescription(await pc.createOffer());
      send('video-offer', { type: 'offer', sdp: pc.localDescription?.sdp });
      statsTimer = setInterval(async () => {
        if (!pc) return;
        const report = await pc.getStats();
        report.forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video') {
            events.meter.addBytes((s.bytesReceived ?? 0) - lastBytes);
            lastBytes = s.bytesReceived ?? 0;
          }
        });
      }, 1000);
    } else if (message.event === 'video-answer' && pc) {
      await pc.setRemoteDescription(JSON.parse(message.data) as RTCSessionDescriptionInit);
    } else if (message.event === 'video-candidate' && pc) {
      await pc.addIceCandidate(JSON.parse(message.data) as RTCIceCandidateInit).catch(() => {});
    }
  };
  socket.onclose = (e) => {
    if (stopped) return;
    if (e.code === 4401) events.onEnded();
    else if (e.code === UNAVAILABLE) events.onUnavailable(e.reason);
    else events.onError('signalling closed');
  };

  // Frames as they are presented (requestVideoFrameCallback where the browser has it).
  let frameCallback = 0;
  const onFrame = () => {
    if (stopped) return;
    if (events.meter) events.meter.frame();
    if (video.videoWidth) events.onPlaying();
    frameCallback = video.requestVideoFrameCallback(onFrame);
  };
  if ('requestVideoFrameCallback' in video) frameCallback = video.requestVideoFrameCallback(onFrame);

  return {
    stop() {
      stopped = true;
      clearInterval(heartbeat);
      clearInterval(statsTimer);
      if ('cancelVideoFrameCallback' in video) video.cancelVideoFrameCallback(frameCallback);
      socket.close();
      pc?.close();
      video.srcObject = null;
    },
  };
}

// --- direct (WebCodecs) ----------------------------------------------------------------------------

export function startDirect(canvas: HTMLCanvasElement, events: PlayerEvents): Player {
  const socket = new WebSocket(streamUrl(`/api/stream/h264/direct?flow=${FLOW_WINDOW}`));
  socket.binaryType = 'arraybuffer';
  const ctx = canvas.getContext('2d', { alpha: false, desynchronized: true });
  let decoder: VideoDecoder | null = null;
  let stopped = false;

  const control = (bytes: Uint8Array) => socket.readyState === WebSocket.OPEN && socket.send(bytes);
  const resync = () => control(new Uint8Array([3]));
  const ack = (timestamp: number) => {
    const message = new Uint8Array(9);
    message[0] = 2;
    new DataView(message.buffer).setBigUint64(1, BigInt(timestamp), true);
    control(message);
  };
  const reset = () => {
    if (decoder && decoder.state !== 'closed') decoder.close();
    decoder = null;
  };
  const newDecoder = () => {
    const instance: VideoDecoder = new VideoDecoder({
      output: (frame) => {
        if (canvas.width !== frame.displayWidth || canvas.height !== frame.displayHeight) {
          canvas.width = frame.displayWidth;
          canvas.height = frame.displayHeight;
        }
        ctx?.drawImage(frame, 0, 0);
        ack(frame.timestamp);
        frame.close();
        events.meter.frame();
        events.onPlaying();
      },
      error: () => {
        if (decoder === instance) {
          reset();
          resync();
        }
      },
    });
    instance.configure({ codec: DIRECT_CODEC, optimizeForLatency: true });
    return instance;
  };

  socket.onmessage = (e) => {
    const message = e.data as ArrayBuffer;
    if (message.byteLength < 9) return;
    const view = new DataView(message);
    const key = view.getUint8(0) === 1;
    const timestamp = Number(view.getBigUint64(1, true));
    events.meter.addBytes(message.byteLength);
    if (!decoder) {
      if (!key) {
        resync();
        return;
      }
      decoder = newDecoder();
    }
    try {
      decoder.decode(new EncodedVideoChunk({ type: key ? 'key' : 'delta', timestamp, data: new Uint8Array(message, 9) }));
    } catch {
      reset();
      resync();
    }
  };
  socket.onclose = (e) => {
    if (stopped) return;
    reset();
    if (e.code === 4401) events.onEnded();
    else if (e.code === UNAVAILABLE) events.onUnavailable(e.reason);
    else events.onError('stream closed');
  };
  return {
    stop() {
      stopped = true;
      socket.close();
      reset();
    },
  };
}
