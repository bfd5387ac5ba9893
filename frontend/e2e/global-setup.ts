// Starts the real backend for the e2e run:
//   <repo>/.venv/bin/python -m app --config <repo>/server.yaml --port <free> --root <fresh tmp dir>
// and exports its URL as E2E_BASE_URL. Returns a teardown that stops it.
// Env knobs: E2E_BASE_URL (use a running server, start nothing), E2E_PYTHON,
// E2E_CONFIG, E2E_KEEP_ROOT=1 (keep the temp root and server log).
// startBackend() is exported for spec files that need a board of their own (media.spec.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const frontend = resolve(here, '..');
const repo = resolve(frontend, '..');

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitReady(url: string, proc: ChildProcess, logFile: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`backend exited early (${proc.exitCode ?? proc.signalCode}):\n${tail(logFile)}`);
    }
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    await sleep(250);
  }
  throw new Error(`backend did not answer ${url} within ${timeoutMs} ms:\n${tail(logFile)}`);
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-40).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface Backend {
  url: string;
  logFile: string;
  /** The server's process id (a test may kill it, as a crash would). */
  pid: number;
  stop: () => Promise<void>;
}

/** Where a spec's own backend runs; every field optional (a restart passes the same port and root). */
export interface BackendOptions {
  /** Listen on this port; default: a free one. */
  port?: number;
  /** This --root, left in place by stop(); default: a fresh temp dir, removed by stop(). */
  root?: string;
  /** This config file; default: E2E_CONFIG or <repo>/server.yaml. */
  config?: string;
}

/** A fresh backend on a free port with its own temp --root (spec files that need a clean board call it too). */
export async function startBackend(options: BackendOptions = {}): Promise<Backend> {
  if (!existsSync(join(frontend, 'dist', 'index.html'))) {
    throw new Error('frontend/dist is missing: run `npm run build` before the e2e tests');
  }
  const venvPython = join(repo, '.venv', 'bin', 'python');
  const python = process.env.E2E_PYTHON ?? (existsSync(venvPython) ? venvPython : 'python3');
  const config = options.config ?? process.env.E2E_CONFIG ?? join(repo, 'server.yaml');
  const port = options.port ?? (await freePort());
  const root = options.root ?? mkdtempSync(join(tmpdir(), 'kvm-e2e-'));
  const logFile = join(root, 'server.log');
  const args = ['-m', 'app'];
  if (existsSync(config)) args.push('--config', config);
  args.push('--port', String(port), '--root', root);

  const log = createWriteStream(logFile, { flags: 'a' }); // a restart on the same root appends
  const proc = spawn(python, args, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  proc.stdout!.pipe(log);
  proc.stderr!.pipe(log);
  console.log(`[e2e] started backend pid ${proc.pid}: ${python} ${args.join(' ')}`);

  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(`${url}/`, proc, logFile, 60_000);
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }

  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
    log.end();
    if (options.root) return; // the caller's root: it may start the backend again on it
    if (process.env.E2E_KEEP_ROOT) console.log(`[e2e] kept backend root ${root}`);
    else rmSync(root, { recursive: true, force: true });
  };
  return { url, logFile, pid: proc.pid!, stop };
}

export default async function globalSetup() {
  if (process.env.E2E_BASE_URL) {
    console.log(`[e2e] using running server at ${process.env.E2E_BASE_URL}`);
    return;
  }
  const backend = await startBackend();
  process.env.E2E_BASE_URL = backend.url;
  process.env.E2E_SERVER_LOG = backend.logFile;
  return backend.stop;
}
