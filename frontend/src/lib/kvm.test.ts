import { afterEach, describe, expect, it, vi } from 'vitest';
import AES from 'crypto-js/aes';
import Utf8 from 'crypto-js/enc-utf8';
import { ApiError } from './api';
import { canControl, changePassword, getShortcuts, login, passwordPolicyError, paste, press } from './kvm';
import { PASSWORD_KEY } from './encrypt';

const ok = () => new Response(JSON.stringify({ code: 0, msg: 'success', data: null }), { status: 200 });
const fail = (code: number, msg: string) =>
  new Response(JSON.stringify({ code, msg, data: null }), { status: 200 });
const dec = (wire: string) => AES.decrypt(decodeURIComponent(wire), PASSWORD_KEY).toString(Utf8);

afterEach(() => vi.unstubAllGlobals());

describe('kvm endpoints', () => {
  it('login sends the encrypted password', async () => {
    const f = vi.fn(async (_u: RequestInfo | URL, _i?: RequestInit) => ok());
    vi.stubGlobal('fetch', f);
    await login('admin', 'admin');
    const [url, init] = f.mock.calls[0];
    expect(url).toBe('/api/auth/login');
    const body = JSON.parse(init!.body as string);
    expect(body.username).toBe('admin');
    expect(body.password).not.toBe('admin');
    expect(dec(body.password)).toBe('admin');
  });

  it('login maps error codes to friendly messages', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => fail(-2, 'invalid username or password')));
    await expect(login('admin', 'x')).rejects.toThrow(/invalid username or password/i);
    vi.stubGlobal('fetch', vi.fn(async () => fail(-5, 'Account locked due to too many failed attempts')));
    await expect(login('admin', 'x')).rejects.toThrow(/too many failed attempts/i);
  });

  it('changePassword encrypts both fields and maps -3 / passes -5 text through', async () => {
    const f = vi.fn(async (_u: RequestInfo | URL, _i?: RequestInit) => ok());
    vi.stubGlobal('fetch', f);
    await changePassword('admin', 'n3w-secret!');
    const body = JSON.parse(f.mock.calls[0][1]!.body as string);
    expect(dec(body.currentPassword)).toBe('admin');
    expect(dec(body.password)).toBe('n3w-secret!');

    vi.stubGlobal('fetch', vi.fn(async () => fail(-3, 'current password is incorrect')));
    await expect(changePassword('bad', 'n3w-secret!')).rejects.toThrow('Current password is incorrect.');
    vi.stubGlobal('fetch', vi.fn(async () => fail(-5, 'password must be between 8 and 72 bytes')));
    await expect(changePassword('admin', 'short')).rejects.toThrow('password must be between 8 and 72 bytes');
  });

  it('press posts type and duration; -4 is reported as busy', async () => {
    const f = vi.fn(async (_u: RequestInfo | URL, _i?: RequestInit) => ok());
    vi.stubGlobal('fetch', f);
    await press('reset', 800);
    expect(JSON.parse(f.mock.calls[0][1]!.body as string)).toEqual({ type: 'reset', duration: 800 });
    vi.stubGlobal('fetch', vi.fn(async () => fail(-4, 'busy')));
    const e = await press('power', 800).then(() => null, (x: ApiError) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e?.message).toMatch(/in progress/);
  });

  it('roles and password policy', () => {
    expect(canControl('admin')).toBe(true);
    expect(canControl('user')).toBe(true);
    expect(canControl('viewer')).toBe(false);
    expect(passwordPolicyError('1234567')).not.toBeNull();
    expect(passwordPolicyError('12345678')).toBeNull();
    expect(passwordPolicyError('é'.repeat(37))).not.toBeNull(); // 74 bytes
  });
});

describe('hid endpoints', () => {
  it('paste posts content and langue; -2/-3 are explained', async () => {
    const f = vi.fn(async (_u: RequestInfo | URL, _i?: RequestInit) => ok());
    vi.stubGlobal('fetch', f);
    await paste('Paste OK', 'de');
    expect(f.mock.calls[0][0]).toBe('/api/hid/paste');
    expect(JSON.parse(f.mock.calls[0][1]!.body as string)).toEqual({ content: 'Paste OK', langue: 'de' });
    vi.stubGlobal('fetch', vi.fn(async () => fail(-2, 'content too long')));
    await expect(paste('x', '')).rejects.toThrow(/at most 833 characters/);
    vi.stubGlobal('fetch', vi.fn(async () => fail(-3, 'HID control is busy')));
    await expect(paste('x', '')).rejects.toThrow(/busy/);
  });

  it('shortcuts: a missing list is empty', async () => {
    const data = (d: unknown) => new Response(JSON.stringify({ code: 0, msg: 'success', data: d }), { status: 200 });
    vi.stubGlobal('fetch', vi.fn(async () => data({ shortcuts: null })));
    await expect(getShortcuts()).resolves.toEqual([]);
    const list = [{ id: 'a', keys: [{ code: 'ControlLeft', label: 'Ctrl' }, { code: 'KeyC', label: 'C' }] }];
    vi.stubGlobal('fetch', vi.fn(async () => data({ shortcuts: list })));
    await expect(getShortcuts()).resolves.toEqual(list);
  });
});
