// A tiny but complete ISO 9660 image for the e2e tests: primary volume descriptor with the
// given volume label, terminator, both path tables and a root directory holding one file.
// Layout (2048-byte sectors): 0-15 system area, 16 PVD, 17 terminator, 18 L path table,
// 19 M path table, 20 root directory, 21 the file. isoinfo and xorriso read it (label, listing, file).
const SECTOR = 2048;
const PVD = 16;
const TERMINATOR = 17;
const L_TABLE = 18;
const M_TABLE = 19;
const ROOT = 20;
const FILE = 21;
const MIN_SECTORS = 22;

/** Little-endian then big-endian copy of a 32-bit value (ISO 9660 "both-byte order"). */
function both32(buf: Buffer, at: number, v: number) {
  buf.writeUInt32LE(v, at);
  buf.writeUInt32BE(v, at + 4);
}

function both16(buf: Buffer, at: number, v: number) {
  buf.writeUInt16LE(v, at);
  buf.writeUInt16BE(v, at + 2);
}

function text(buf: Buffer, at: number, len: number, s: string) {
  buf.write(s.padEnd(len, ' ').slice(0, len), at, 'ascii');
}

/** 7-byte directory record date (years since 1900 … seconds, GMT offset 0). */
function recordDate(d: Date): number[] {
  return [d.getUTCFullYear() - 1900, d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), 0];
}

/** 17-byte volume descriptor date: "YYYYMMDDHHMMSScc" and a GMT offset of 0. */
function volumeDate(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}00`;
}

function dirRecord(id: Buffer, extent: number, size: number, dir: boolean, date: Date): Buffer {
  const len = 33 + id.length + (id.length % 2 === 0 ? 1 : 0); // padded to an even length
  const r = Buffer.alloc(len);
  r[0] = len;
  both32(r, 2, extent);
  both32(r, 10, size);
  Buffer.from(recordDate(date)).copy(r, 18);
  r[25] = dir ? 2 : 0;
  both16(r, 28, 1);
  r[32] = id.length;
  id.copy(r, 33);
  return r;
}

/**
 * The image bytes. `label`: up to 32 of A-Z 0-9 _ (ISO 9660 d-characters); `minBytes` pads the
 * volume with empty sectors (a bigger upload for progress tests).
 */
export function makeIso(label: string, { minBytes = 0, fileName = 'README.TXT', content = `Volume ${label}\n` } = {}): Buffer {
  if (!/^[A-Z0-9_]{1,32}$/.test(label)) throw new Error(`not an ISO 9660 volume label: ${label}`);
  const sectors = Math.max(MIN_SECTORS, Math.ceil(minBytes / SECTOR));
  const date = new Date(Date.UTC(2025, 0, 2, 3, 4, 5));
  const body = Buffer.from(content, 'ascii');
  if (body.length > SECTOR) throw new Error('content must fit one sector');
  const img = Buffer.alloc(sectors * SECTOR);
  const root = dirRecord(Buffer.from([0]), ROOT, SECTOR, true, date);

  // primary volume descriptor
  const pvd = img.subarray(PVD * SECTOR, (PVD + 1) * SECTOR);
  pvd[0] = 1;
  pvd.write('CD001', 1, 'ascii');
  pvd[6] = 1;
  text(pvd, 8, 32, 'LINUX');
  text(pvd, 40, 32, label);
  both32(pvd, 80, sectors);
  both16(pvd, 120, 1); // volume set size
  both16(pvd, 124, 1); // volume sequence number
  both16(pvd, 128, SECTOR);
  both32(pvd, 132, 10); // path table size: the root's record alone
  pvd.writeUInt32LE(L_TABLE, 140);
  pvd.writeUInt32BE(M_TABLE, 148);
  root.copy(pvd, 156);
  text(pvd, 190, 128, label); // volume set
  text(pvd, 318, 128, ''); // publisher
  text(pvd, 446, 128, 'KVM E2E'); // data preparer
  text(pvd, 574, 128, 'KVM E2E MAKEISO'); // application
  text(pvd, 702, 37 * 3, ''); // copyright, abstract, bibliographic file ids
  pvd.write(volumeDate(date), 813, 'ascii'); // created
  pvd.write(volumeDate(date), 830, 'ascii'); // modified
  pvd.write('0'.repeat(16), 847, 'ascii'); // expires: never
  pvd.write('0'.repeat(16), 864, 'ascii'); // effective: at once
  pvd[881] = 1; // file structure version

  // volume descriptor set terminator
  const term = img.subarray(TERMINATOR * SECTOR);
  term[0] = 255;
  term.write('CD001', 1, 'ascii');
  term[6] = 1;

  // path tables: one record for the root (identifier 0x00, parent 1), LE and BE
  const l = img.subarray(L_TABLE * SECTOR);
  l[0] = 1;
  l.writeUInt32LE(ROOT, 2);
  l.writeUInt16LE(1, 6);
  const m = img.subarray(M_TABLE * SECTOR);
  m[0] = 1;
  m.writeUInt32BE(ROOT, 2);
  m.writeUInt16BE(1, 6);

  // root directory: ".", "..", the file
  let at = ROOT * SECTOR;
  for (const rec of [
    root,
    dirRecord(Buffer.from([1]), ROOT, SECTOR, true, date),
    dirRecord(Buffer.from(`${fileName};1`, 'ascii'), FILE, body.length, false, date),
  ]) {
    rec.copy(img, at);
    at += rec.length;
  }
  body.copy(img, FILE * SECTOR);
  return img;
}
