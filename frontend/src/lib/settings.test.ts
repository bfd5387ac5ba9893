import { afterEach, describe, expect, it, vi } from 'vitest';
import AES from 'crypto-js/aes';
import Utf8 from 'crypto-js/enc-utf8';
import { PASSWORD_KEY } from './encrypt';
import {
  FPS, QUALITIES, RESOLUTIONS, atLeast, createUser, forgetMac, getWebTitle, hostnameError, labelOf, listWol,
  maybe, newPasswordError, normalizeMac, parseWolEntry, setJiggler, setUserPassword, titleError, updateUser,
  visibleSections, withCurrent,
} from './settings';
import { ApiError, ForbiddenError, HttpError } from './api';
import { DEFAULT_TITLE, titleFor } from './title';

const dec = (wire: string) => AES.decrypt(decodeURIComponent(wire), PASSWORD_KEY).toString(Utf8);
const answer = (data: unknown, code = 0, msg = 'success') =>
  new Response(JSON.stringify({ code, msg, data }), { status: 200 });

function stubFetch(res: () => Response) {
  const f = vi.fn(async (_u: RequestInfo | URL, _i?: RequestInit) => res());
  vi.stubGlobal('fetch', f);
  return f;
}
const sent = (f: ReturnType<typeof stubFetch>, i = 0) => {
  const [url, init] = f.mock.calls[i];
  return { url, method: init?.method, body: init?.body ? JSON.parse(init.body as string) : undefined };
};

afterEach(() => vi.unstubAllGlobals());

describe('roles shape the page', () => {
  it('ranks viewer < user < admin and refuses unknown roles', () => {
    expect(atLeast('admin', 'user')).toBe(true);
    expect(atLeast('user', 'user')).toBe(true);
    expect(atLeast('viewer', 'user')).toBe(false);
    expect(atLeast('root', 'viewer')).toBe(false);
    expect(atLeast(undefined, 'viewer')).toBe(false);
  });

  it('shows each role its sections', () => {
    const ids = (r: string) => visibleSections(r).map((s) => s.id);
    expect(ids('viewer')).toEqual(['screen', 'device', 'hid', 'account', 'security']);
    expect(ids('user')).toEqual(['screen', 'device', 'hid', 'wol', 'account', 'security']);
    expect(ids('admin')).toEqual(['screen', 'device', 'hid', 'wol', 'users', 'vnc', 'ai', 'recordings', 'account', 'security', 'audit']);
    expect(ids('nobody')).toEqual([]);
  });
});

describe('choices', () => {
  it('adds a current value set elsewhere, once', () => {
    expect(withCurrent(FPS, 30)).toHaveLength(FPS.length);
    const q = withCurrent(QUALITIES, 73);
    expect(q).toHaveLength(QUALITIES.length + 1);
    expect(q[q.length - 1]).toEqual({ value: 73, label: '73' });
    expect(withCurrent(RESOLUTIONS, 768, (v) => `${v} lines`).at(-1)!.label).toBe('768 lines');
  });

  it('offers only what the server accepts', () => {
    expect(RESOLUTIONS.map((r) => r.value).sort((a, b) => a - b)).toEqual([0, 480, 600, 720, 1080]);
    expect(QUALITIES.every((q) => q.value >= 1 && q.value <= 100)).toBe(true);
    expect(FPS.every((f) => f.value >= 10 && f.value <= 60)).toBe(true);
    expect(labelOf(RESOLUTIONS, 0)).toMatch(/native/i);
    expect(labelOf(RESOLUTIONS, 999)).toBe('999');
  });
});

describe('form checks', () => {
  it('hostnames follow the server rule', () => {
    for (const ok of ['kvm', 'kvm-1', 'A', 'a'.repeat(63)]) expect(hostnameError(ok)).toBeNull();
    for (const bad of ['', '-kvm', 'kvm-', 'kvm.local', 'k vm', 'a'.repeat(64), 'kvm_1']) {
      expect(hostnameError(bad)).toMatch(/1 to 63/);
    }
  });

  it('web titles: at most 64 printable characters', () => {
    expect(titleError('Rack 4 — the big one')).toBeNull();
    expect(titleError('x'.repeat(64))).toBeNull();
    expect(titleError('x'.repeat(65))).toMatch(/64/);
    expect(titleError('tab\there')).toMatch(/control/);
  });

  it('new passwords: policy first, then the confirmation', () => {
    expect(newPasswordError('short', 'short')).toMatch(/8 and 72/);
    expect(newPasswordError('long-enough', 'long-enougH')).toMatch(/do not match/);
    expect(newPasswordError('long-enough', 'long-enough')).toBeNull();
  });

  it('MAC addresses are normalised as the server does', () => {
    expect(normalizeMac('aa-bb-cc-dd-ee-ff')).toBe('AA:BB:CC:DD:EE:FF');
    expect(normalizeMac(' aabb.ccdd.eeff ')).toBe('AA:BB:CC:DD:EE:FF');
    expect(normalizeMac('AABBCCDDEEFF')).toBe('AA:BB:CC:DD:EE:FF');
    for (const bad of ['', 'AA:BB:CC:DD:EE', 'AA:BB:CC:DD:EE:FG', 'AA:BB:CC:DD:EE:FF:00']) {
      expect(normalizeMac(bad)).toBeNull();
    }
  });

  it('saved Wake-on-LAN lines split into MAC and name', () => {
    expect(parseWolEntry('AA:BB:CC:DD:EE:FF')).toEqual({ mac: 'AA:BB:CC:DD:EE:FF', name: '' });
    expect(parseWolEntry('AA:BB:CC:DD:EE:FF  Office PC ')).toEqual({ mac: 'AA:BB:CC:DD:EE:FF', name: 'Office PC' });
  });

  it('the tab title falls back to the default', () => {
    expect(titleFor('Rack 4')).toBe('Rack 4');
    expect(titleFor('  ')).toBe(DEFAULT_TITLE);
    expect(titleFor(null)).toBe(DEFAULT_TITLE);
  });
});

describe('wrappers', () => {
  it('user passwords travel encrypted', async () => {
    const f = stubFetch(() => answer(null));
    await createUser('vera', 'password-1', 'viewer');
    await setUserPassword('a b', 'password-2');
    const create = sent(f, 0);
    expect(create.url).toBe('/api/auth/users');
    expect(create.body.password).not.toBe('password-1');
    expect(dec(create.body.password)).toBe('password-1');
    expect(create.body).toMatchObject({ username: 'vera', role: 'viewer' });
    const reset = sent(f, 1);
    expect(reset.url).toBe('/api/auth/users/a%20b/password');
    expect(dec(reset.body.password)).toBe('password-2');
  });

  it('role changes are PUT, the jiggler posts to the slash route, forgetting a MAC is DELETE with a body', async () => {
    const f = stubFetch(() => answer(null));
    await updateUser('vera', { role: 'user' });
    await setJiggler({ enabled: true, mode: 'relative' });
    await forgetMac('AA:BB:CC:DD:EE:FF');
    expect(sent(f, 0)).toEqual({ url: '/api/auth/users/vera', method: 'PUT', body: { role: 'user' } });
    expect(sent(f, 1)).toEqual({ url: '/api/vm/mouse-jiggler/', method: 'POST', body: { enabled: true, mode: 'relative' } });
    expect(sent(f, 2)).toEqual({ url: '/api/network/wol/mac', method: 'DELETE', body: { mac: 'AA:BB:CC:DD:EE:FF' } });
  });

  it('an unset web title (code -1) reads as empty; other failures still throw', async () => {
    stubFetch(() => answer(null, -1, 'read web title failed'));
    await expect(getWebTitle()).resolves.toBe('');
    stubFetch(() => new Response('', { status: 500 }));
    await expect(getWebTitle()).rejects.toBeInstanceOf(HttpError);
  });

  it('the saved list tolerates null and blank lines', async () => {
    stubFetch(() => answer({ macs: null }));
    await expect(listWol()).resolves.toEqual([]);
    stubFetch(() => answer({ macs: ['AA:BB:CC:DD:EE:FF PC', ' '] }));
    await expect(listWol()).resolves.toEqual([{ mac: 'AA:BB:CC:DD:EE:FF', name: 'PC' }]);
  });

  it('maybe() turns refusals into null and keeps other errors', async () => {
    await expect(maybe(Promise.reject(new ForbiddenError()))).resolves.toBeNull();
    await expect(maybe(Promise.reject(new ApiError(-1, 'x')))).resolves.toBeNull();
    await expect(maybe(Promise.reject(new HttpError(0, 'network error')))).rejects.toThrow('network error');
    await expect(maybe(Promise.resolve(3))).resolves.toBe(3);
  });
});
