// The bundle budget check: which files count as the first page, and size.mjs failing the build.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { firstPageReport, firstPageScripts, htmlEntries, staticImports } from './bundle.mjs';

const SIZE = new URL('./size.mjs', import.meta.url).pathname;
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A built-looking dist/ with the given files. */
function dist(files: Record<string, string | Buffer>): string {
  const root = mkdtempSync(join(tmpdir(), 'kvm-size-'));
  dirs.push(root);
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(join(root, name, '..'), { recursive: true });
    writeFileSync(join(root, name), body);
  }
  return root;
}

const HTML = (extra = '') => `<!doctype html><html><head>
  <script type="module" crossorigin src="/assets/index-a.js"></script>
  ${extra}<link rel="stylesheet" crossorigin href="/assets/index-a.css"></head><body></body></html>`;

describe('first page scripts', () => {
  it('finds the entry and modulepreload links, not stylesheets', () => {
    expect(htmlEntries(HTML('<link rel="modulepreload" crossorigin href="/assets/vendor-b.js">'))).toEqual([
      '/assets/index-a.js', '/assets/vendor-b.js',
    ]);
  });

  it('tells static imports from dynamic ones in minified code', () => {
    const code = 'import{a as e,b as t}from"./vendor-b.js";import"./side-c.js";export*from"./re-d.js";' +
      'export{x as y}from\'./re-e.js\';const f=()=>import(`./Settings-f.js`),g=o.import("./no.js");' +
      "var s=`import this from the docs`;";
    expect(staticImports(code)).toEqual(['./vendor-b.js', './side-c.js', './re-d.js', './re-e.js']);
  });

  it('follows static imports transitively and leaves lazy chunks out', () => {
    const root = dist({
      'index.html': HTML(),
      'assets/index-a.js': 'import{r}from"./react-b.js";const S=()=>import(`./Settings-c.js`);',
      'assets/react-b.js': 'import"./shared-d.js";export const r=1;',
      'assets/shared-d.js': 'import{r}from"./react-b.js";', // a cycle ends
      'assets/Settings-c.js': 'import{r}from"./react-b.js";',
    });
    const files = firstPageScripts(root).map((p) => p.slice(root.length)).sort();
    expect(files).toEqual(['/assets/index-a.js', '/assets/react-b.js', '/assets/shared-d.js']);
  });
});

describe('size.mjs', () => {
  const big = () => randomBytes(300_000).toString('base64'); // ~400 kB, incompressible-ish: ~300 kB gzipped

  it('passes under budget and prints the first page figure', () => {
    const root = dist({ 'index.html': HTML(), 'assets/index-a.js': 'console.log(1)', 'assets/Lazy-z.js': big() });
    const r = spawnSync(process.execPath, [SIZE, root], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/first page JS \(assets\/index-a\.js\): 0\.\d kB gzipped, budget 250 kB/);
  });

  it('fails (exit 1) when the first page is over budget, counting static imports', () => {
    const root = dist({
      'index.html': HTML(),
      'assets/index-a.js': 'import"./vendor-b.js";',
      'assets/vendor-b.js': `var x="${big()}";`,
    });
    expect(firstPageReport(root).over).toBe(true);
    const r = spawnSync(process.execPath, [SIZE, root], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/over the 250 kB budget/);
  });
});
