// Types for bundle.mjs (a plain Node script), for its test.
export const BUDGET_KB: number;
export function htmlEntries(html: string): string[];
export function staticImports(code: string): string[];
export function resolveSpecifier(spec: string, importer: string, root: string): string | null;
export function firstPageScripts(root: string, read?: (path: string) => string): string[];
export function gzipSize(bytes: Uint8Array): number;
export interface FirstPageReport {
  files: Array<{ file: string; raw: number; gzip: number }>;
  gzip: number;
  budget: number;
  over: boolean;
}
export function firstPageReport(root: string, budgetKb?: number): FirstPageReport;
