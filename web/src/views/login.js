import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { ApiError, request } from '../api.js';
import { session, startSession } from '../session.js';

// Log in with a credential: fetch who it belongs to, then start the session.
export async function logInWith(credential) {
  const me = await request('GET', '/api/auth/me', { credential });
  startSession(credential, me.data);
}

export function Login() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const ended = session() && session().message;

  async function submit(event) {
    event.preventDefault();
    setBusy(true);
    setError('');
    try {
      const resp = await request('POST', '/api/auth/login', { body: { username, password }, credential: {} });
      await logInWith({ kind: 'token', secret: resp.data.token, expiresAt: resp.data.expires_at });
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? 'Wrong username or password, or the user is disabled.'
          : err.message,
      );
    } finally {
      setBusy(false);
    }
  }

  return html`<main class="login">
    <form class="card" onSubmit=${submit} aria-labelledby="login-title">
      <h1 id="login-title">Millstream console</h1>
      ${ended && html`<p class="notice" role="status" id="login-notice">${ended}</p>`}
      <label>Username <input name="username" autocomplete="username" required value=${username}
        onInput=${(e) => setUsername(e.target.value)} /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required
        value=${password} onInput=${(e) => setPassword(e.target.value)} /></label>
      ${error && html`<p class="error" role="alert" id="login-error">${error}</p>`}
      <button type="submit" disabled=${busy}>Log in</button>
    </form>
  </main>`;
}
