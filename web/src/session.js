// Who is logged in: a login token (JWT) or an API key, kept for this browser tab only.
const KEY = 'millstream.session';
const listeners = new Set();
let current = load();
let expiryTimer = null;

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch {
    return null;
  }
}

function emit() {
  for (const fn of listeners) fn(current);
}

export function session() {
  return current;
}

export function onSession(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// credential: {kind: 'token'|'api_key', secret, expiresAt?}; identity: GET /api/auth/me.
export function startSession(credential, identity) {
  current = { ...credential, name: identity.name, role: identity.role, message: '' };
  sessionStorage.setItem(KEY, JSON.stringify(current));
  armExpiry();
  emit();
}

// Back to the login page, saying why.
export function endSession(message = '') {
  current = message ? { message } : null;
  sessionStorage.removeItem(KEY);
  clearTimeout(expiryTimer);
  emit();
}

function armExpiry() {
  clearTimeout(expiryTimer);
  if (!current || !current.expiresAt) return;
  const left = Date.parse(current.expiresAt) - Date.now();
  const when = new Date(current.expiresAt).toLocaleTimeString();
  const say = `Your session expired at ${when}. Log in again to continue.`;
  if (left <= 0) endSession(say);
  else expiryTimer = setTimeout(() => endSession(say), Math.min(left, 2 ** 31 - 1));
}

const RANK = { operator: 0, engineer: 1, admin: 2 };

// can('engineer'): the session's role is at least engineer.
export function can(role) {
  return !!current && current.role in RANK && RANK[current.role] >= RANK[role];
}

armExpiry();
