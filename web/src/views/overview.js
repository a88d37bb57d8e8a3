import { html } from 'htm/preact';
import { Component, createRef } from 'preact';
import { setQuery } from '../router.js';
import { useEffect } from 'preact/hooks';
import { live } from '../live.js';
import { useStore } from '../store.js';
import { PRIORITIES, SEVERITIES, ago, isOpen, num, sensorLabel, sensorsOf, unitOf } from '../format.js';

export const STALE_MS = 15000;
const KEY_VALUES = 3;
const NOT_KEY = new Set(['running', 'door_open']);

// The machine's primary sensors when the registry names them, else its first few.
export function keySensors(machine) {
  if (Array.isArray(machine.primary_sensors) && machine.primary_sensors.length) {
    return machine.primary_sensors.slice(0, KEY_VALUES);
  }
  return sensorsOf(machine).map((s) => s.name).filter((n) => !NOT_KEY.has(n)).slice(0, KEY_VALUES);
}

function alarmSummary(alarms) {
  const out = new Map();
  for (const a of alarms.values()) {
    if (!isOpen(a)) continue;
    const id = String(a.machine_id);
    const s = out.get(id) || { counts: {}, commLoss: false, active: false };
    s.counts[a.severity] = (s.counts[a.severity] || 0) + 1;
    if (a.rule === 'comm_loss' && a.active) s.commLoss = true;
    if (a.active) s.active = true;
    out.set(id, s);
  }
  return out;
}

export function machineStatus(live, summary, now) {
  if (summary && summary.commLoss) return { key: 'comm', label: 'Communication lost', shape: '✕' };
  if (!live) return { key: 'waiting', label: 'No data yet', shape: '…' };
  if (now - live.receivedAt > STALE_MS) return { key: 'stale', label: 'Stale', shape: '?' };
  if (summary && summary.active) return { key: 'alarm', label: 'In alarm', shape: '!' };
  if (live.values.running === 0) return { key: 'stopped', label: 'Stopped', shape: '■' };
  return { key: 'running', label: 'Running', shape: '▶' };
}

// Lines far from the screen render no tiles, only a box of their height: 500 machines
// updating every second then cost what the tiles in view (and a screen's height around
// them) cost, in rendering, style and layout alike. A line is rendered again as it nears.
const NEAR = '100% 0px';
const TILE_ROW_PX = 126; // a tile's least height and the gap below it (console.css)
const TILE_MIN_PX = 218; // its least width and the gap beside it
const LINE_HEAD_PX = 40; // the line's name above its tiles
const lines = new WeakMap(); // element -> Line
let observer = null;

function onNear(entries) {
  for (const entry of entries) {
    const line = lines.get(entry.target);
    if (!line || line.state.near === entry.isIntersecting) continue;
    // Measured here, after the layout the observer ran on: no extra layout to force.
    if (line.state.near) line.height = entry.boundingClientRect.height;
    line.setState({ near: entry.isIntersecting });
  }
}

// One tile; it re-renders only when its machine's data, alarms or staleness changed.
class Tile extends Component {
  shouldComponentUpdate(next) {
    return next.sig !== this.props.sig || next.status.key === 'stale' || next.status.key === 'comm';
  }

  render({ machine, live, summary, status, now }) {
    const id = String(machine.machine_id);
    const quality = (live && live.quality) || {};
    return html`<a class=${`tile st-${status.key}`} href=${`#/machine/${encodeURIComponent(id)}`}
      data-machine=${id} aria-label=${`Machine ${id} ${machine.name}: ${status.label}`}>
      <span class="tile-head"><span class="tile-name">${machine.name || `Machine ${id}`}</span><span class="tile-id">#${id}</span></span>
      <span class="status"><span aria-hidden="true">${status.shape}</span> ${status.label}</span>
      <span class="kv">
        ${keySensors(machine).map((s) => {
          const q = quality[s];
          const v = live ? live.values[s] : undefined;
          return html`<span class=${`v ${q && q !== 'good' ? 'bad' : ''}`} data-sensor=${s}>
            <span class="k">${sensorLabel(s)}</span>
            <span class="n">${num(v)}</span><span class="u">${unitOf(machine, s)}</span>
            ${q && q !== 'good' ? html`<span class="q">${q}</span>` : ''}
          </span>`;
        })}
      </span>
      <span class="alarms">${SEVERITIES.filter((s) => summary && summary.counts[s]).map(
        (s) => html`<span class=${`prio-badge sev-${s}`} title=${`${PRIORITIES[s].label} priority alarms`}>${PRIORITIES[s].shape} ${summary.counts[s]} ${PRIORITIES[s].label}</span>`,
      )}</span>
      ${live && (status.key === 'stale' || status.key === 'comm')
        ? html`<span class="age">last update ${ago(live.receivedAt, now)}</span>`
        : ''}
    </a>`;
  }
}

function group(machines) {
  const plants = new Map();
  for (const m of machines) {
    const plant = m.plant || 'No plant';
    const line = m.line || 'No line';
    if (!plants.has(plant)) plants.set(plant, new Map());
    const lines = plants.get(plant);
    if (!lines.has(line)) lines.set(line, []);
    lines.get(line).push(m);
  }
  return plants;
}

class Line extends Component {
  constructor(props) {
    super(props);
    this.el = createRef();
    this.height = 0; // of the line with its tiles, when last seen
    this.state = { near: typeof IntersectionObserver === 'undefined' };
  }

  componentDidMount() {
    if (this.state.near) return;
    observer = observer || new IntersectionObserver(onNear, { rootMargin: NEAR });
    lines.set(this.el.current, this);
    observer.observe(this.el.current);
  }

  componentWillUnmount() {
    if (observer && this.el.current) observer.unobserve(this.el.current);
  }

  // The height a line without its tiles keeps: its last, or an estimate.
  boxHeight() {
    if (this.height) return this.height;
    const width = window.innerWidth - 32; // not the element's: reading it would force a layout
    const perRow = Math.max(1, Math.floor((width + 8) / TILE_MIN_PX));
    return LINE_HEAD_PX + Math.ceil(this.props.machines.length / perRow) * TILE_ROW_PX;
  }

  render({ name, machines, state, summaries, now }) {
    const box = this.state.near ? '' : `height: ${this.boxHeight()}px`;
    return html`<section class="line" ref=${this.el} style=${box} data-machines=${machines.length}>
      <h3>${name}</h3>
      ${this.state.near
        ? html`<div class="tiles">${machines.map((m) => {
            const id = String(m.machine_id);
            const live = state.values.get(id);
            const summary = summaries.get(id);
            const status = machineStatus(live, summary, now);
            const sig = `${live ? live.version : 0}|${status.key}|${summary ? JSON.stringify(summary.counts) : ''}`;
            return html`<${Tile} key=${id} machine=${m} live=${live} summary=${summary} status=${status} sig=${sig} now=${now} />`;
          })}</div>`
        : ''}
    </section>`;
  }
}

export function Overview({ route, state, now }) {
  useStore('values');
  useEffect(() => {
    live.watchOverview(true);
    return () => live.watchOverview(false);
  }, []);
  const filter = (route.query.get('q') || '').toLowerCase();
  const onlyAlarm = route.query.get('alarm') === '1';
  const summaries = alarmSummary(state.alarms);
  if (state.machinesError) return html`<p class="error" role="alert">Machines could not be loaded: ${state.machinesError}</p>`;
  const shown = state.machines.filter((m) => {
    const text = `${m.machine_id} ${m.name} ${m.plant} ${m.line}`.toLowerCase();
    if (filter && !text.includes(filter)) return false;
    return !onlyAlarm || summaries.has(String(m.machine_id));
  });
  return html`<section class="overview">
    <div class="toolbar">
      <h1>Overview</h1>
      <label>Find <input type="search" value=${route.query.get('q') || ''} placeholder="name, id, plant"
        onInput=${(e) => setQuery({ q: e.target.value })} /></label>
      <label><input type="checkbox" checked=${onlyAlarm} onChange=${(e) => setQuery({ alarm: e.target.checked ? '1' : '' })} /> Only machines with alarms</label>
      <span class="muted">${shown.length} of ${state.machines.length} machines</span>
    </div>
    ${[...group(shown)].map(([plant, byLine]) => html`<section class="plant" key=${plant} aria-label=${plant}>
      <h2>${plant}</h2>
      ${[...byLine].sort(([a], [b]) => a.localeCompare(b)).map(([line, machines]) => html`<${Line} key=${line}
        name=${line} machines=${machines} state=${state} summaries=${summaries} now=${now} />`)}
    </section>`)}
  </section>`;
}
