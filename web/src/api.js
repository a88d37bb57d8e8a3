// REST calls with the session's credential. A 401 ends the session (back to the login page
// with the reason); every other error is thrown as ApiError with the API's detail.
import { endSession, session } from './session.js';

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

export function authHeader(credential = session()) {
  if (!credential || !credential.secret) return {};
  return credential.kind === 'api_key'
    ? { 'X-API-Key': credential.secret }
    : { Authorization: `Bearer ${credential.secret}` };
}

export async function request(method, path, { body, headers = {}, credential } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...authHeader(credential), ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'The API does not answer: check the connection, then try again.');
  }
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text };
  }
  if (resp.status === 401 && !credential) {
    endSession('Your session has ended (it expired or was revoked). Log in again to continue.');
  }
  if (!resp.ok) {
    throw new ApiError(resp.status, describe(resp.status, data && data.detail));
  }
  return { status: resp.status, data, etag: resp.headers.get('ETag') };
}

function describe(status, detail) {
  const text = typeof detail === 'string' ? detail : JSON.stringify(detail ?? '');
  if (status === 403) return `Not allowed for your role: ${text}`;
  if (status === 429) return `Too many requests: ${text}`;
  return text || `HTTP ${status}`;
}

export const get = (path, opts) => request('GET', path, opts).then((r) => r.data);
export const post = (path, body, opts = {}) => request('POST', path, { ...opts, body });

// A route this API version may not have yet: null when it does not (404 or 405; a 422
// naming `alarm_id` is /api/alarms/{alarm_id} answering for a route it does not know).
export async function optional(method, path, body) {
  try {
    return (await request(method, path, { body })).data;
  } catch (err) {
    const missing = err.status === 404 || err.status === 405 || (err.status === 422 && /^alarm_id: /.test(err.detail));
    if (missing) return null;
    throw err;
  }
}
