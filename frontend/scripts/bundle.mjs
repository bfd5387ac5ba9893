// What the first page loads: index.html's module scripts and modulepreload links, and every
// file those import statically (import ... from, import "x", export ... from), transitively.
// Dynamic import() chunks (the lazy settings page) are not part of it.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

/** The first page's JavaScript budget, gzipped, in kB of 1000 bytes (as Vite prints them). */
export const BUDGET_KB = 250;

/** Script and modulepreload URLs named by the HTML (entry first). */
export function htmlEntries(html) {
  const out = [];
  for (const tag of html.match(/<(script|link)\b[^>]*>/gi) ?? []) {
    const attr = (name) => tag.match(new RegExp(`\\b${name}\\s*=\\s*["']([^"']*)["']`, 'i'))?.[1];
    if (/^<script/i.test(tag) && attr('type') === 'module' && attr('src')) out.push(attr('src'));
    else if (/^<link/i.test(tag) && attr('rel') === 'modulepreload' && attr('href')) out.push(attr('href'));
  }
  return out;
}

/** Specifiers of static imports and re-exports in (minified) ES module code; never import(). */
export function staticImports(code) {
  const out = [];
  // `import{a}from"./x.js"`, `import x from './x.js'`, `import"./x.js"`, `export*from"./x.js"`;
  // the character before `import`/`export` must not continue an identifier or a member access.
  const re = /(?:^|[^\w$.])(?:import\s*(?:[\w$*{][^;"'`()]*?\bfrom\s*)?|export\s*(?:\*|\{[^}]*\})[^;"'`()]*?\bfrom\s*)["'`]([^"'`]+)["'`]/g;
  for (const m of code.matchAll(re)) out.push(m[1]);
  return out;
}

/** Local files only: "/assets/a.js" against the dist root, "./a.js" against the importer. */
export function resolveSpecifier(spec, importer, root) {
  if (/^[a-z][a-z0-9+.-]*:/i.test(spec) || spec.startsWith('//')) return null; // another origin, data:
  if (spec.startsWith('/')) return normalize(join(root, spec));
  if (spec.startsWith('.')) return normalize(join(dirname(importer), spec));
  return null; // bare specifiers do not exist in a built bundle
}

/** The JS files the first page loads, from the built index.html; `read` returns a file's text. */
export function firstPageScripts(root, read = (p) => readFileSync(p, 'utf8')) {
  const html = read(join(root, 'index.html'));
  const queue = htmlEntries(html)
    .map((s) => resolveSpecifier(s, join(root, 'index.html'), root))
    .filter((p) => p && p.endsWith('.js'));
  const seen = new Set();
  while (queue.length) {
    const file = queue.shift();
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of staticImports(read(file))) {
      const dep = resolveSpecifier(spec, file, root);
      if (dep && dep.endsWith('.js') && !seen.has(dep)) queue.push(dep);
    }
  }
  return [...seen];
}

export const gzipSize = (bytes) => gzipSync(bytes, { level: 9 }).length;

/** Sizes of the first page's JS; `over` when its gzipped total exceeds the budget. */
export function firstPageReport(root, budgetKb = BUDGET_KB) {
  if (!existsSync(join(root, 'index.html'))) throw new Error(`${root}index.html is missing: build first`);
  const files = firstPageScripts(root).map((p) => {
    const bytes = readFileSync(p);
    return { file: relative(root, p), raw: bytes.length, gzip: gzipSize(bytes) };
  });
  const gzip = files.reduce((n, f) => n + f.gzip, 0);
  return { files, gzip, budget: budgetKb * 1000, over: gzip > budgetKb * 1000 };
}
