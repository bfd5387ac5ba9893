// Prints raw and gzip sizes of everything in dist/ (what the board serves), then the JavaScript
// the first page loads (index.html's entry and its static imports; lazy chunks excluded) against
// the budget, and exits 1 when it is over. Sizes in kB of 1000 bytes, gzip -9.
//   node scripts/size.mjs [dist-dir]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BUDGET_KB, firstPageReport, gzipSize } from './bundle.mjs';

const root = process.argv[2] ? join(process.argv[2], '/') : new URL('../dist/', import.meta.url).pathname;
const kb = (n) => (n / 1000).toFixed(1);
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
  const z = gzipSize(b);
  raw += b.length;
  gz += z;
  console.log(`${relative(root, f).padEnd(40)} ${kb(b.length).padStart(8)} kB  gzip ${kb(z).padStart(7)} kB`);
}
console.log(`${'total'.padEnd(40)} ${kb(raw).padStart(8)} kB  gzip ${kb(gz).padStart(7)} kB`);

const first = firstPageReport(root);
console.log(`\nfirst page JS (${first.files.map((f) => f.file).join(', ')}): ` +
  `${kb(first.gzip)} kB gzipped, budget ${BUDGET_KB} kB`);
if (first.over) {
  console.error(`FAIL: the first page's JavaScript is ${kb(first.gzip)} kB gzipped, over the ${BUDGET_KB} kB budget`);
  process.exit(1);
}
