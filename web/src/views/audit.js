import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.js';
import { setQuery } from '../router.js';

const FILTERS = ['who', 'path_prefix', 'method', 'status', 'start'];

export function AuditView({ route }) {
  const [rows, setRows] = useState(null);
  const [error, setError] = useState('');
  const q = route.query;
  const params = new URLSearchParams({ limit: '200', start: q.get('start') || '-1h' });
  for (const f of FILTERS) if (q.get(f)) params.set(f, q.get(f));
  const url = `/api/audit?${params}`;
  useEffect(() => {
    setRows(null);
    get(url).then((r) => { setRows(r); setError(''); }).catch((err) => setError(err.message));
  }, [url]);
  const input = (name, label, placeholder) => html`<label>${label}
    <input name=${name} value=${q.get(name) || ''} placeholder=${placeholder}
      onChange=${(e) => setQuery({ [name]: e.target.value })} /></label>`;
  return html`<section class="audit">
    <div class="toolbar"><h1>Audit</h1>
      ${input('who', 'Who', 'user:alice or key:…')}
      ${input('path_prefix', 'Path starts with', '/api/alarms')}
      <label>Method <select value=${q.get('method') || ''} onChange=${(e) => setQuery({ method: e.target.value })}>
        ${['', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'WS'].map((m) => html`<option value=${m}>${m || 'Any'}</option>`)}
      </select></label>
      ${input('status', 'Status', '403')}
      <label>Since <select value=${q.get('start') || '-1h'} onChange=${(e) => setQuery({ start: e.target.value })}>
        ${['-15m', '-1h', '-24h', '-7d'].map((s) => html`<option value=${s}>${s.slice(1)}</option>`)}
      </select></label>
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${rows === null && !error ? html`<p class="muted">Loading…</p>` : ''}
    ${rows && html`<table class="audit-table"><thead><tr>
      <th scope="col">Time</th><th scope="col">Who</th><th scope="col">Role</th><th scope="col">Request</th><th scope="col">Status</th><th scope="col">ms</th>
    </tr></thead><tbody>${rows.map((r) => html`<tr class=${r.status >= 400 ? 'bad' : ''}>
      <td>${new Date(r.time).toLocaleString()}</td><td>${r.principal}</td><td>${r.role}</td>
      <td><code>${r.method} ${r.path}</code></td><td>${r.status}</td><td class="num">${r.latency_ms.toFixed(1)}</td>
    </tr>`)}</tbody></table>`}
  </section>`;
}
