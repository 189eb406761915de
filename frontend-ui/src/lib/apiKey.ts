// The hub's API key (or JWT), when the hub requires one: kept for this tab
// only (sessionStorage) or on this device (localStorage), as the person
// chose, and sent as a WebSocket subprotocol and as `Authorization: Bearer`,
// never in a URL.

/** The storage key of the credential, in either storage. */
export const API_KEY_STORAGE_KEY = 'webcamhub.apiKey';

/** The two places a credential may be kept; injectable for tests. */
export interface KeyStorages {
  session: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null;
  local: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null;
}

function browserStorages(): KeyStorages {
  const pick = (name: 'sessionStorage' | 'localStorage') => {
    try {
      return typeof window !== 'undefined' ? window[name] : null;
    } catch {
      return null; // storage disabled (privacy settings)
    }
  };
  return { session: pick('sessionStorage'), local: pick('localStorage') };
}

/** The credential kept for this tab, else on this device; null when none. */
export function loadApiKey(storages: KeyStorages = browserStorages()): string | null {
  return storages.session?.getItem(API_KEY_STORAGE_KEY) || storages.local?.getItem(API_KEY_STORAGE_KEY) || null;
}

/**
 * Keeps `key` for this tab, or on this device when `remember`; the other
 * storage forgets any older one, so one key is in use.
 */
export function saveApiKey(key: string, remember: boolean, storages: KeyStorages = browserStorages()): void {
  const [keep, forget] = remember ? [storages.local, storages.session] : [storages.session, storages.local];
  forget?.removeItem(API_KEY_STORAGE_KEY);
  keep?.setItem(API_KEY_STORAGE_KEY, key.trim());
}

/** Forgets the credential in both storages. */
export function forgetApiKey(storages: KeyStorages = browserStorages()): void {
  storages.session?.removeItem(API_KEY_STORAGE_KEY);
  storages.local?.removeItem(API_KEY_STORAGE_KEY);
}

/** The request headers that present the credential, when there is one. */
export function bearerHeaders(key: string | null = loadApiKey()): Record<string, string> {
  return key ? { Authorization: `Bearer ${key}` } : {};
}
