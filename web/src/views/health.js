import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { optional } from '../api.js';
import { setQuery } from '../router.js';
import { ago, num } from '../format.js';
import { Unavailable } from './unavailable.js';

const PERIODS = ['-24h', '-7d', '-30d'];

function dur(s) {
  if (s == null) return '–';
  if (s < 120) return `${num(s)} s`;
  if (s < 7200) return `${num(s / 60)} min`;
  return `${num(s / 3600)} h`;
}

function RateRow({ row, target }) {
  const over = row.per_10min_avg > target[1];
  return html`<tr class=${over ? 'bad' : ''} data-plant=${row.plant || 'all'}>
    <th scope="row">${row.plant || 'All plants'}</th>
    <td class="num">${row.raised}</td>
    <td class="num">${num(row.per_10min_avg)}${over ? html` <span class="flag">▲ above ${target[1]}</span>` : ''}</td>
    <td class="num">${row.per_10min_peak}${row.peak_at ? html` <span class="muted">at ${new Date(row.peak_at).toLocaleString()}</span>` : ''}</td>
    <td class="num">${num(row.flood_pct)} %</td>
  </tr>`;
}

function List({ title, rows, cols, empty }) {
  return html`<section><h2>${title}</h2>
    ${rows.length
      ? html`<table><thead><tr>${cols.map(([label]) => html`<th scope="col">${label}</th>`)}</tr></thead>
        <tbody>${rows.map((r) => html`<tr>${cols.map(([, cell]) => html`<td>${cell(r)}</td>`)}</tr>`)}</tbody></table>`
      : html`<p class="muted">${empty}</p>`}
  </section>`;
}

const alarmCell = (r) => html`<a href=${`#/machine/${encodeURIComponent(r.machine_id)}`}>${r.alarm_id}</a>`;

// ISA-18.2 alarm system performance over a period.
export function HealthView({ route, state }) {
  const start = route.query.get('start') || '-7d';
  const plant = route.query.get('plant') || '';
  const [body, setBody] = useState(undefined);
  const [error, setError] = useState('');
  const url = `/api/alarm-health?${new URLSearchParams(plant ? { start, plant } : { start })}`;
  useEffect(() => {
    setBody(undefined);
    optional('GET', url).then((b) => { setBody(b); setError(''); }).catch((err) => setError(err.message));
  }, [url]);
  const g = body && body.guideline;
  return html`<section class="health">
    <div class="toolbar"><h1>Alarm health</h1>
      <div class="ranges" role="group" aria-label="Period">${PERIODS.map((p) => html`<button class=${p === start ? 'on' : ''}
        aria-pressed=${p === start} onClick=${() => setQuery({ start: p })}>${p.slice(1)}</button>`)}</div>
      <label>Plant <select value=${plant} onChange=${(e) => setQuery({ plant: e.target.value })}>
        <option value="">All plants</option>
        ${[...new Set(state.machines.map((m) => m.plant).filter(Boolean))].sort().map((p) => html`<option value=${p}>${p}</option>`)}
      </select></label>
    </div>
    ${body === null && html`<${Unavailable} what="Alarm health (ISA-18.2 KPIs)" needs="the alarm health route (GET /api/alarm-health)" />`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${body === undefined && !error && html`<p class="muted">Loading…</p>`}
    ${body && html`
      <p class="muted">ISA-18.2 guideline: ${g.per_10min_target[0]}–${g.per_10min_target[1]} alarms per 10 minutes per operator;
        flood above ${g.flood_per_10min} per 10 minutes.</p>
      <table id="health-rates"><thead><tr><th scope="col">Plant</th><th scope="col">Raised</th><th scope="col">Per 10 min (avg)</th>
        <th scope="col">Peak 10 min</th><th scope="col">Time in flood</th></tr></thead>
        <tbody>${body.plants.map((row) => html`<${RateRow} row=${row} target=${g.per_10min_target} />`)}
          <${RateRow} row=${body.total} target=${g.per_10min_target} /></tbody></table>
      <section><h2>Time to acknowledge</h2>
        <p>${body.acknowledge.count} acknowledged: mean ${dur(body.acknowledge.mean_s)}, median ${dur(body.acknowledge.median_s)},
          90th percentile ${dur(body.acknowledge.p90_s)}, longest ${dur(body.acknowledge.max_s)};
          ${body.acknowledge.unacknowledged} never acknowledged.</p></section>
      <${List} title="Top ten most frequent alarms" rows=${body.top.slice(0, 10)} empty="No alarms in this period."
        cols=${[['Alarm', alarmCell], ['Plant', (r) => r.plant], ['Raised', (r) => r.count], ['Share', (r) => `${num(r.pct)} %`]]} />
      <${List} title="Chattering alarms" rows=${body.chattering} empty="None: no alarm raised 3 or more times within a minute."
        cols=${[['Alarm', alarmCell], ['Most per minute', (r) => r.max_per_min], ['Episodes', (r) => r.episodes]]} />
      <${List} title="Standing alarms (active over 24 h)" rows=${body.standing} empty="None."
        cols=${[['Alarm', alarmCell], ['Raised', (r) => ago(Date.parse(r.raised_at))], ['Active for', (r) => dur(r.active_s)], ['Now', (r) => (r.active_now ? 'still active' : 'cleared')]]} />`}
  </section>`;
}
