import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ApiError, ForbiddenError, HttpError, UnauthorizedError,
  errorText, get, onUnauthorized, post, request,
} from './api';

function respond(status: number, body: unknown, raw = false) {
  return vi.fn(async (_url: RequestInfo | URL, _init?: RequestInit) =>
    new Response(raw ? (body as string) : JSON.stringify(body), {
      status,
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
    }),
  );
}

afterEach(() => onUnauthorized(null));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const caught = (p: Promise<unknown>): Promise<any> => p.then(() => { throw new Error('expected rejection'); }, (e) => e);

describe('api client', () => {
  it('returns data on code 0', async () => {
    const f = respond(200, { code: 0, msg: 'success', data: { pwr: true, hdd: false } });
    await expect(get('/api/vm/gpio', { fetchImpl: f })).resolves.toEqual({ pwr: true, hdd: false });
    const [url, init] = f.mock.calls[0];
    expect(url).toBe('/api/vm/gpio');
    expect(init?.method).toBe('GET');
    expect(init?.credentials).toBe('same-origin');
    expect(init?.body).toBeUndefined();
  });

  it('returns null data on success', async () => {
    const f = respond(200, { code: 0, msg: 'success', data: null });
    await expect(post('/api/auth/logout', undefined, { fetchImpl: f })).resolves.toBeNull();
  });

  it('sends JSON bodies', async () => {
    const f = respond(200, { code: 0, msg: 'success', data: null });
    await post('/api/vm/gpio', { type: 'power', duration: 800 }, { fetchImpl: f });
    const init = f.mock.calls[0][1]!;
    expect(init.method).toBe('POST');
    expect((init.headers as Record<string, string>)['Content-Type']).toBe('application/json');
    expect(JSON.parse(init.body as string)).toEqual({ type: 'power', duration: 800 });
  });

  it('throws ApiError with code and msg on negative code', async () => {
    const f = respond(200, { code: -4, msg: 'busy', data: null });
    const err = await caught(post('/api/vm/gpio', {}, { fetchImpl: f }));
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe(-4);
    expect(err.message).toBe('busy');
  });

  it("reads the error text NanoKVM's AI control routes key `message`", async () => {
    const f = respond(200, { code: -2, message: 'picoclaw is not installed' });
    const err = await caught(request('PUT', '/api/ai/control/mode', { mode: 'picoclaw' }, { fetchImpl: f }));
    expect(err).toBeInstanceOf(ApiError);
    expect(err.message).toBe('picoclaw is not installed');
  });

  it('throws UnauthorizedError on 401 and notifies the listener', async () => {
    const listener = vi.fn();
    onUnauthorized(listener);
    const f = respond(401, 'unauthorized');
    await expect(get('/api/auth/account', { fetchImpl: f })).rejects.toBeInstanceOf(UnauthorizedError);
    expect(listener).toHaveBeenCalledTimes(1);
  });

  it('quiet401 suppresses the listener but still throws', async () => {
    const listener = vi.fn();
    onUnauthorized(listener);
    const f = respond(401, 'unauthorized');
    await expect(get('/api/auth/account', { fetchImpl: f, quiet401: true })).rejects.toBeInstanceOf(
      UnauthorizedError,
    );
    expect(listener).not.toHaveBeenCalled();
  });

  it('throws ForbiddenError on 403 without logging out', async () => {
    const listener = vi.fn();
    onUnauthorized(listener);
    const f = respond(403, 'forbidden');
    const err = await caught(post('/api/vm/gpio', {}, { fetchImpl: f }));
    expect(err).toBeInstanceOf(ForbiddenError);
    expect(errorText(err)).toMatch(/not allowed/i);
    expect(listener).not.toHaveBeenCalled();
  });

  it('throws HttpError on other statuses and bad bodies', async () => {
    await expect(get('/x', { fetchImpl: respond(500, '', true) })).rejects.toBeInstanceOf(HttpError);
    await expect(get('/x', { fetchImpl: respond(200, '<html>', true) })).rejects.toBeInstanceOf(HttpError);
    await expect(get('/x', { fetchImpl: respond(200, { foo: 1 }) })).rejects.toBeInstanceOf(HttpError);
  });

  it('maps network failures and timeouts to HttpError', async () => {
    const boom = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    });
    const e1 = await caught(get('/x', { fetchImpl: boom }));
    expect(e1).toBeInstanceOf(HttpError);
    expect(e1.message).toBe('network error');

    const hang = vi.fn(
      (_u: RequestInfo | URL, init?: RequestInit) =>
        new Promise<Response>((_res, rej) => {
          init?.signal?.addEventListener('abort', () => rej(new DOMException('aborted', 'AbortError')));
        }),
    );
    const e2 = await caught(request('GET', '/x', undefined, { fetchImpl: hang, timeoutMs: 20 }));
    expect(e2).toBeInstanceOf(HttpError);
    expect(e2.message).toBe('request timed out');
  });
});
