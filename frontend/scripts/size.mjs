// Prints raw and gzip sizes of everything in dist/ (what the board serves).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

const root = new URL('../dist/', import.meta.url).pathname;
const files = [];
(function walk(d) {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p);
    else files.push(p);
  }
})(root);

let raw = 0;
let gz = 0;
for (const f of files.sort()) {
  const b = readFileSync(f);
  const z = gzipSync(b, { level: 9 }).length;
  raw += b.length;
  gz += z;
  console.log(`${relative(root, f).padEnd(40)} ${(b.length / 1024).toFixed(1).padStart(8)} kB  gzip ${(z / 1024).toFixed(1).padStart(7)} kB`);
}
console.log(`${'total'.padEnd(40)} ${(raw / 1024).toFixed(1).padStart(8)} kB  gzip ${(gz / 1024).toFixed(1).padStart(7)} kB`);
