import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { get, request } from '../api.js';
import { say } from '../store.js';

const ROLES = ['operator', 'engineer', 'admin'];

async function call(method, path, body, done) {
  try {
    const r = await request(method, path, { body });
    if (done) say(done, 'info');
    return r.data || true;
  } catch (err) {
    say(err.message);
    return null;
  }
}

function Users() {
  const [users, setUsers] = useState([]);
  const [draft, setDraft] = useState({ username: '', password: '', role: 'operator' });
  const reload = () => get('/api/users').then(setUsers).catch((err) => say(err.message));
  useEffect(() => { reload(); }, []);
  const create = async (e) => {
    e.preventDefault();
    if (await call('POST', '/api/users', draft, `User ${draft.username} created.`)) {
      setDraft({ username: '', password: '', role: 'operator' });
      reload();
    }
  };
  const change = async (u, body, done) => {
    if (await call('PATCH', `/api/users/${encodeURIComponent(u.username)}`, body, done)) reload();
  };
  const reset = (u) => {
    const password = prompt(`New password for ${u.username}:`);
    if (password) change(u, { password }, `Password of ${u.username} reset; their sessions ended.`);
  };
  return html`<section aria-labelledby="users-title"><h2 id="users-title">Users</h2>
    <table id="users"><thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
    <tbody>${users.map((u) => html`<tr data-user=${u.username}>
      <td>${u.username}</td>
      <td><select aria-label=${`Role of ${u.username}`} value=${u.role} onChange=${(e) => change(u, { role: e.target.value }, `${u.username} is now ${e.target.value}.`)}>
        ${ROLES.map((r) => html`<option value=${r}>${r}</option>`)}</select></td>
      <td>${u.disabled ? 'disabled' : 'active'}</td>
      <td><button onClick=${() => change(u, { disabled: !u.disabled }, `${u.username} ${u.disabled ? 'enabled' : 'disabled'}.`)}>${u.disabled ? 'Enable' : 'Disable'}</button>
        <button onClick=${() => reset(u)}>Reset password…</button></td>
    </tr>`)}</tbody></table>
    <form class="inline" onSubmit=${create} aria-label="New user">
      <input aria-label="Username" placeholder="username" required value=${draft.username} onInput=${(e) => setDraft({ ...draft, username: e.target.value })} />
      <input aria-label="Password" placeholder="password" type="password" required value=${draft.password} onInput=${(e) => setDraft({ ...draft, password: e.target.value })} />
      <select aria-label="Role" value=${draft.role} onChange=${(e) => setDraft({ ...draft, role: e.target.value })}>${ROLES.map((r) => html`<option value=${r}>${r}</option>`)}</select>
      <button type="submit">Create user</button>
    </form>
  </section>`;
}

function Keys() {
  const [keys, setKeys] = useState([]);
  const [draft, setDraft] = useState({ name: '', role: 'operator' });
  const [minted, setMinted] = useState(null);
  const reload = () => get('/api/keys').then(setKeys).catch((err) => say(err.message));
  useEffect(() => { reload(); }, []);
  const mint = async (e) => {
    e.preventDefault();
    const made = await call('POST', '/api/keys', draft, null);
    if (made) {
      setMinted(made);
      setDraft({ name: '', role: 'operator' });
      reload();
    }
  };
  const revoke = async (k) => {
    if (confirm(`Revoke key ${k.name} (${k.key_id})? Everything using it stops working.`)) {
      if (await call('DELETE', `/api/keys/${encodeURIComponent(k.key_id)}`, undefined, `Key ${k.name} revoked.`)) reload();
    }
  };
  return html`<section aria-labelledby="keys-title"><h2 id="keys-title">API keys</h2>
    ${minted && html`<div class="notice" role="alert" id="minted-key">
      Key <strong>${minted.name}</strong> (${minted.role}): <code>${minted.secret}</code><br />
      Copy it now: it is shown only once. <button onClick=${() => setMinted(null)}>Done</button></div>`}
    <table id="keys"><thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Id</th><th scope="col">Created</th><th scope="col"></th></tr></thead>
    <tbody>${keys.map((k) => html`<tr><td>${k.name}</td><td>${k.role}</td><td><code>${k.key_id}</code></td><td>${k.created}</td>
      <td><button onClick=${() => revoke(k)}>Revoke…</button></td></tr>`)}</tbody></table>
    <form class="inline" onSubmit=${mint} aria-label="New key">
      <input aria-label="Key name" placeholder="who uses it: scada-line-3" required value=${draft.name} onInput=${(e) => setDraft({ ...draft, name: e.target.value })} />
      <select aria-label="Key role" value=${draft.role} onChange=${(e) => setDraft({ ...draft, role: e.target.value })}>${ROLES.map((r) => html`<option value=${r}>${r}</option>`)}</select>
      <button type="submit">Mint key</button>
    </form>
  </section>`;
}

export function AdminView() {
  return html`<section class="admin"><div class="toolbar"><h1>Users and keys</h1></div><${Users} /><${Keys} /></section>`;
}
