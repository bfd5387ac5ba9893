// Small fetch-based client for the NanoKVM-compatible API.
// Success: HTTP 200 {code: 0, msg, data}. Failure: HTTP 200 with code < 0,
// HTTP 401 "unauthorized" (session gone) or HTTP 403 "forbidden" (role).

export interface Envelope<T> {
  code: number;
  msg: string;
  data: T;
}

/** Server answered with a negative `code`. */
export class ApiError extends Error {
  readonly code: number;
  constructor(code: number, msg: string) {
    super(msg || `error ${code}`);
    this.name = 'ApiError';
    this.code = code;
  }
}

/** HTTP 401: not logged in / session revoked. */
export class UnauthorizedError extends Error {
  constructor() {
    super('unauthorized');
    this.name = 'UnauthorizedError';
  }
}

/** HTTP 403: the role does not allow this. */
export class ForbiddenError extends Error {
  constructor() {
    super('not allowed');
    this.name = 'ForbiddenError';
  }
}

/** Network failure, timeout, non-JSON or unexpected HTTP status. */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, msg: string) {
    super(msg);
    this.name = 'HttpError';
    this.status = status;
  }
}

type Listener = () => void;
let unauthorizedListener: Listener | null = null;

/** Called on every HTTP 401 (in addition to the UnauthorizedError thrown). */
export function onUnauthorized(fn: Listener | null): void {
  unauthorizedListener = fn;
}

/** The session ended outside an HTTP request (WebSocket close 4401): same as a 401. */
export function sessionEnded(): void {
  unauthorizedListener?.();
}

export interface RequestOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  fetchImpl?: typeof fetch;
  /** Do not notify the global 401 listener (used by the initial session probe). */
  quiet401?: boolean;
}

const DEFAULT_TIMEOUT_MS = 30_000;

export async function request<T>(
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
  opts: RequestOptions = {},
): Promise<T> {
  const f = opts.fetchImpl ?? globalThis.fetch.bind(globalThis);
  const ctrl = new AbortController();
  const timeout = setTimeout(() => ctrl.abort(), opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const onAbort = () => ctrl.abort();
  opts.signal?.addEventListener('abort', onAbort);
  let res: Response;
  try {
    res = await f(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined
        ? { Accept: 'application/json' }
        : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: ctrl.signal,
    });
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    throw new HttpError(0, ctrl.signal.aborted ? 'request timed out' : 'network error');
  } finally {
    clearTimeout(timeout);
    opts.signal?.removeEventListener('abort', onAbort);
  }

  if (res.status === 401) {
    if (!opts.quiet401) unauthorizedListener?.();
    throw new UnauthorizedError();
  }
  if (res.status === 403) throw new ForbiddenError();
  if (!res.ok) throw new HttpError(res.status, `HTTP ${res.status}`);

  let env: Envelope<T>;
  try {
    env = (await res.json()) as Envelope<T>;
  } catch {
    throw new HttpError(res.status, 'invalid response from server');
  }
  if (!env || typeof env !== 'object' || typeof env.code !== 'number') {
    throw new HttpError(res.status, 'invalid response from server');
  }
  // NanoKVM's AI control routes key their error text `message` instead of `msg`.
  if (env.code !== 0) throw new ApiError(env.code, env.msg ?? (env as { message?: string }).message ?? '');
  return env.data;
}

export const get = <T>(path: string, opts?: RequestOptions) => request<T>('GET', path, undefined, opts);
export const post = <T>(path: string, body?: unknown, opts?: RequestOptions) =>
  request<T>('POST', path, body ?? {}, opts);

/** Human-readable text for any error thrown by this module. */
export function errorText(e: unknown): string {
  if (e instanceof ForbiddenError) return 'Not allowed for your account.';
  if (e instanceof UnauthorizedError) return 'Your session has ended. Please log in again.';
  if (e instanceof Error) return e.message;
  return String(e);
}
