import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { get } from '../api.js';
import { Chart } from '../chart.js';
import { columns, lowerBound } from '../series.js';
import { live } from '../live.js';
import { setQuery } from '../router.js';
import { useStore } from '../store.js';
import { can } from '../session.js';
import { ago, byPriorityThenTime, num, sensorLabel, sensorsOf, time, unitOf } from '../format.js';
import { STALE_MS, machineStatus } from './overview.js';
import { AlarmTable } from './alarms.js';
import { Commands } from './commands.js';

// Range -> seconds, and how history is asked for: raw points, or windows of whole minutes
// read from the pipeline's one-minute aggregates (source=auto) with min/max bands.
export const RANGES = {
  '15m': { s: 900 },
  '1h': { s: 3600 },
  '6h': { s: 6 * 3600, window: '1m' },
  '24h': { s: 86400, window: '2m' },
  '7d': { s: 7 * 86400, window: '15m' },
  '30d': { s: 30 * 86400, window: '1h' },
};
const SKIP = new Set(['running', 'door_open']);
const THRESHOLD_POLL_MS = 5000;

function chartSensors(machine, seen) {
  return sensorsOf(machine, seen).map((s) => s.name).filter((n) => !SKIP.has(n));
}

// The windowed mean, min and max; from the aggregates where they hold the range, else (a
// machine whose history was imported, never aggregated) from the raw points.
async function windowed(base, window) {
  for (const source of ['&source=auto', '']) {
    const url = (fn) => `${base}&window=${window}&fn=${fn}${source}`;
    const answers = await Promise.all([get(url('mean')), get(url('min')), get(url('max'))]);
    if (answers[0].points.length || !source) return answers;
  }
  return [];
}

// end: null follows now; else the range ends there (ms), panned back in time.
async function loadHistory(id, sensors, rangeKey, end) {
  const r = RANGES[rangeKey];
  const span = end
    ? `start=${new Date(end - r.s * 1000).toISOString()}&stop=${new Date(end).toISOString()}`
    : `start=-${rangeKey}`;
  const base = `/api/machines/${encodeURIComponent(id)}/readings?${span}&fields=${sensors.join(',')}`;
  if (!r.window) {
    const main = await get(`${base}&limit=100000`);
    return { series: columns(main.points, sensors), truncated: main.truncated };
  }
  const [main, lo, hi] = await windowed(base, r.window);
  const series = columns(main.points, sensors);
  for (const s of sensors) {
    const index = (pts) => new Map(pts.points.map((p) => [Date.parse(p.ts) / 1000, p[s]]));
    const mins = index(lo);
    const maxs = index(hi);
    series[s].min = Array.from(series[s].x, (t) => mins.get(t) ?? null);
    series[s].max = Array.from(series[s].x, (t) => maxs.get(t) ?? null);
  }
  return { series, truncated: main.truncated };
}

function thresholdsOf(view) {
  const out = {};
  for (const rec of (view && view.sensors) || []) {
    out[rec.sensor] = Object.entries(rec.limits || {})
      .filter(([, l]) => l.enabled !== false)
      .map(([kind, l]) => ({ kind, value: l.value, severity: l.severity }));
  }
  return out;
}

function useThresholds(id) {
  const [limits, setLimits] = useState({});
  useEffect(() => {
    let alive = true;
    const load = () =>
      get(`/api/machines/${encodeURIComponent(id)}/thresholds`)
        .then((v) => alive && setLimits(thresholdsOf(v)))
        .catch(() => {});
    load();
    const t = setInterval(load, THRESHOLD_POLL_MS);
    return () => {
      alive = false;
      clearInterval(t);
    };
  }, [id]);
  return limits;
}

const EMPTY = new Float64Array(0);

// a[from..] with v appended, as a new typed array (a second's live value: a small copy).
function grown(a, from, v) {
  const out = new Float64Array(a.length - from + 1);
  out.set(a.subarray ? a.subarray(from) : a.slice(from));
  out[out.length - 1] = v;
  return out;
}

function useSeries(id, sensors, rangeKey, end) {
  const data = useRef({});
  const [version, setVersion] = useState(0);
  const [error, setError] = useState('');
  const [truncated, setTruncated] = useState(false);
  useEffect(() => {
    if (!sensors.length) return undefined;
    let alive = true;
    data.current = Object.fromEntries(sensors.map((s) => [s, { x: EMPTY, y: EMPTY }]));
    setVersion((v) => v + 1);
    const range = RANGES[rangeKey];
    let pending = [];
    const append = (frame) => {
      const t = Date.parse(frame.ts) / 1000;
      for (const s of sensors) {
        const d = data.current[s];
        if (typeof frame[s] !== 'number' || (d.x.length && t <= d.x[d.x.length - 1])) continue;
        const cut = lowerBound(d.x, t - range.s);
        d.x = grown(d.x, cut, t);
        d.y = grown(d.y, cut, frame[s]);
        if (d.min) {
          d.min = [...d.min.slice(cut), null];
          d.max = [...d.max.slice(cut), null];
        }
      }
      setVersion((v) => v + 1);
    };
    // Live values that arrive while history loads are kept and joined after it.
    const unwatch = live.watchMachine(id);
    const off = live.on('reading', (frame) => {
      if (String(frame.machine_id) !== String(id) || end) return;
      if (pending) pending.push(frame);
      else append(frame);
    });
    loadHistory(id, sensors, rangeKey, end)
      .then(({ series, truncated: cut }) => {
        if (!alive) return;
        data.current = series;
        setTruncated(cut);
        setError('');
        const early = pending;
        pending = null;
        for (const f of early) append(f);
        setVersion((v) => v + 1);
      })
      .catch((err) => alive && setError(err.message));
    return () => {
      alive = false;
      off();
      unwatch();
    };
  }, [id, rangeKey, end, sensors.join(',')]);
  return { data: data.current, version, error, truncated };
}

function Latest({ machine, liveValues, rest }) {
  const seen = [...Object.keys(rest), ...Object.keys((liveValues && liveValues.values) || {})];
  const sensors = sensorsOf(machine, seen).map((s) => s.name);
  return html`<table class="latest" id="latest-values">
    <caption>Latest values</caption>
    <thead><tr><th scope="col">Sensor</th><th scope="col">Value</th><th scope="col">Quality</th><th scope="col">Time</th></tr></thead>
    <tbody>${sensors.map((s) => {
      const fromLive = liveValues && typeof liveValues.values[s] === 'number';
      const value = fromLive ? liveValues.values[s] : rest[s] && rest[s].value;
      const q = (liveValues && liveValues.quality[s]) || (value === undefined ? 'no data' : 'good');
      const ts = fromLive ? liveValues.ts : rest[s] && rest[s].ts;
      return html`<tr data-sensor=${s}>
        <th scope="row">${sensorLabel(s)}</th>
        <td class="num">${num(value)} ${unitOf(machine, s)}</td>
        <td class=${q !== 'good' ? 'bad' : ''}>${q}</td>
        <td>${ts ? time(Date.parse(ts)) : '–'}</td>
      </tr>`;
    })}</tbody>
  </table>`;
}

export function MachineView({ route, state, now }) {
  useStore('values');
  const id = route.parts[1];
  const rangeKey = RANGES[route.query.get('range')] ? route.query.get('range') : '1h';
  const end = Number(route.query.get('end')) || null;
  const spanMs = RANGES[rangeKey].s * 1000;
  const pan = (dir) => {
    const next = (end || Date.now()) + (dir * spanMs) / 2;
    setQuery({ end: next >= Date.now() ? '' : String(Math.round(next)) });
  };
  const machine = state.machines.find((m) => String(m.machine_id) === id);
  const [rest, setRest] = useState({});
  const sensors = machine ? chartSensors(machine, Object.keys(rest)) : [];
  const limits = useThresholds(id);
  const { data, version, error, truncated } = useSeries(id, sensors, rangeKey, end);
  useEffect(() => {
    get(`/api/machines/${encodeURIComponent(id)}/latest`).then((r) => setRest(r.values)).catch(() => {});
  }, [id]);
  if (!machine) {
    return html`<p class="notice">${state.machines.length ? `No machine ${id} in the registry.` : 'Loading machines…'}</p>`;
  }
  const liveValues = state.values.get(id);
  const status = machineStatus(liveValues, null, now);
  const stale = liveValues && now - liveValues.receivedAt > STALE_MS ? `last update ${ago(liveValues.receivedAt, now)}` : '';
  const alarms = [...state.alarms.values()].filter((a) => String(a.machine_id) === id && a.state !== 'normal').sort(byPriorityThenTime);
  return html`<section class="machine">
    <div class="toolbar">
      <h1>${machine.name} <span class="muted">#${id}</span></h1>
      <span class=${`status st-${status.key}`}>${status.shape} ${status.label}</span>
      <span class="muted">${machine.plant} · ${machine.line}${machine.location ? ` · ${machine.location}` : ''}</span>
    </div>
    <div class="ranges" role="group" aria-label="Time range">
      ${Object.keys(RANGES).map((k) => html`<button class=${k === rangeKey ? 'on' : ''} aria-pressed=${k === rangeKey}
        onClick=${() => setQuery({ range: k })}>${k}</button>`)}
      <button aria-label="Earlier" onClick=${() => pan(-1)}>◀ earlier</button>
      <button aria-label="Later" disabled=${!end} onClick=${() => pan(1)}>later ▶</button>
      ${end ? html`<button onClick=${() => setQuery({ end: '' })}>Now</button>
        <span class="muted">until ${new Date(end).toLocaleString()}, not live</span>` : ''}
      <span class="muted">Drag across a chart to zoom, double-click to reset.</span>
    </div>
    ${error && html`<p class="error" role="alert">History could not be loaded: ${error}</p>`}
    ${truncated && html`<p class="notice">Only part of this range was loaded: choose a shorter range for every point.</p>`}
    <div class="charts">
      ${sensors.map((s) => html`<${Chart} key=${`${s}-${rangeKey}`} title=${s} unit=${unitOf(machine, s)}
        data=${data[s] || { x: EMPTY, y: EMPTY }} version=${version} thresholds=${limits[s] || []}
        range=${RANGES[rangeKey].s} end=${end} stale=${stale} />`)}
    </div>
    <div class="columns">
      <${Latest} machine=${machine} liveValues=${liveValues} rest=${rest} />
      <section class="machine-alarms"><h2>Alarms of this machine</h2>
        ${alarms.length ? html`<${AlarmTable} alarms=${alarms} now=${now} />` : html`<p class="muted">No alarms.</p>`}
      </section>
    </div>
    ${can('engineer') && html`<${Commands} machine=${machine} />`}
  </section>`;
}
