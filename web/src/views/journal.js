import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { optional } from '../api.js';
import { setQuery } from '../router.js';
import { PRIORITIES, SEVERITIES, num, time } from '../format.js';
import { Unavailable } from './unavailable.js';

const RANGES = ['-1h', '-24h', '-7d', '-30d'];
const EVENTS = ['raised', 'cleared', 'acknowledged', 'shelved', 'unshelved'];

// The alarm journal: every alarm event of a period, newest first, from InfluxDB.
export function Journal({ route }) {
  const q = route.query;
  const [body, setBody] = useState(undefined);
  const [error, setError] = useState('');
  const params = new URLSearchParams({ start: q.get('jstart') || '-24h', limit: '1000' });
  for (const [name, key] of [['plant', 'plant'], ['severity', 'severity'], ['event', 'jevent']]) {
    if (q.get(key)) params.set(name, q.get(key));
  }
  const url = `/api/alarms/journal?${params}`;
  useEffect(() => {
    setBody(undefined);
    optional('GET', url).then((b) => { setBody(b); setError(''); }).catch((err) => setError(err.message));
  }, [url]);
  if (body === null) return html`<${Unavailable} what="The alarm journal" needs="the alarm journal route (GET /api/alarms/journal)" />`;
  return html`<div class="journal">
    <div class="toolbar filters">
      <label>Period <select value=${q.get('jstart') || '-24h'} onChange=${(e) => setQuery({ jstart: e.target.value })}>
        ${RANGES.map((r) => html`<option value=${r}>last ${r.slice(1)}</option>`)}</select></label>
      <label>Priority <select value=${q.get('severity') || ''} onChange=${(e) => setQuery({ severity: e.target.value })}>
        <option value="">All</option>${SEVERITIES.map((s) => html`<option value=${s}>${PRIORITIES[s].label}</option>`)}</select></label>
      <label>Event <select value=${q.get('jevent') || ''} onChange=${(e) => setQuery({ jevent: e.target.value })}>
        <option value="">All</option>${EVENTS.map((ev) => html`<option value=${ev}>${ev}</option>`)}</select></label>
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${body === undefined && !error && html`<p class="muted">Loading…</p>`}
    ${body && html`<p class="muted" id="journal-count">${body.events.length} events${body.truncated ? ' (the newest; narrow the filters for the rest)' : ''}</p>
      <table class="journal-table"><thead><tr><th scope="col">Time</th><th scope="col">Priority</th><th scope="col">Event</th>
        <th scope="col">Alarm</th><th scope="col">Value / limit</th><th scope="col">By</th></tr></thead>
      <tbody>${body.events.map((ev) => html`<tr data-alarm=${ev.alarm_id} data-event=${ev.event}>
        <td>${time(Date.parse(ev.ts))}</td>
        <td><span class=${`prio-badge sev-${ev.severity}`}>${(PRIORITIES[ev.severity] || {}).shape} ${(PRIORITIES[ev.severity] || {}).label || ev.severity}</span></td>
        <td>${ev.event}</td>
        <td><a href=${`#/machine/${encodeURIComponent(ev.machine_id)}`}>${ev.machine_id}</a> ${ev.message || ev.alarm_id}</td>
        <td class="num">${num(ev.value)} / ${num(ev.threshold)}</td>
        <td>${ev.by}${ev.comment ? `: ${ev.comment}` : ''}</td>
      </tr>`)}</tbody></table>`}
  </div>`;
}
