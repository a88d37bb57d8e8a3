import { html } from 'htm/preact';
import { Component, createRef } from 'preact';
import { setQuery } from '../router.js';
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

// Tiles off screen (beyond a margin) catch up at most every OFFSCREEN_MS, jittered per tile
// so they spread out, and at once when scrolled to: 500 machines updating every second
// then cost about what the visible tiles cost.
export const OFFSCREEN_MS = 5000;
const tiles = new WeakMap(); // element -> Tile
let observer = null;

function onScreen(entries) {
  for (const entry of entries) {
    const tile = tiles.get(entry.target);
    if (!tile) continue;
    const was = tile.visible;
    tile.visible = entry.isIntersecting;
    if (tile.visible && !was && tile.behind) tile.forceUpdate();
  }
}

function watch(el, tile) {
  if (!el || typeof IntersectionObserver === 'undefined') return;
  observer = observer || new IntersectionObserver(onScreen, { rootMargin: '300px 0px' });
  tiles.set(el, tile);
  observer.observe(el);
}

// One tile; it re-renders only when its machine's data, alarms or staleness changed.
class Tile extends Component {
  constructor(props) {
    super(props);
    this.el = createRef();
    this.visible = true; // until the observer says otherwise
    this.behind = false;
    this.renderedAt = 0;
    this.catchUpMs = OFFSCREEN_MS * (0.6 + Math.random() * 0.8);
  }

  componentDidMount() {
    watch(this.el.current, this);
  }

  componentWillUnmount() {
    if (observer && this.el.current) observer.unobserve(this.el.current);
  }

  shouldComponentUpdate(next) {
    const changed = next.sig !== this.props.sig || next.status.key === 'stale' || next.status.key === 'comm';
    if (!changed) return false;
    if (this.visible || Date.now() - this.renderedAt >= this.catchUpMs) return true;
    this.behind = true;
    return false;
  }

  render({ machine, live, summary, status, now }) {
    this.behind = false;
    this.renderedAt = Date.now();
    const id = String(machine.machine_id);
    const quality = (live && live.quality) || {};
    return html`<a ref=${this.el} class=${`tile st-${status.key}`} href=${`#/machine/${encodeURIComponent(id)}`}
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

export function Overview({ route, state, now }) {
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
    ${[...group(shown)].map(([plant, lines]) => html`<section class="plant" aria-label=${plant}>
      <h2>${plant}</h2>
      ${[...lines].sort(([a], [b]) => a.localeCompare(b)).map(([line, machines]) => html`<section class="line">
        <h3>${line}</h3>
        <div class="tiles">
          ${machines.map((m) => {
            const id = String(m.machine_id);
            const live = state.values.get(id);
            const summary = summaries.get(id);
            const status = machineStatus(live, summary, now);
            const sig = `${live ? live.version : 0}|${status.key}|${summary ? JSON.stringify(summary.counts) : ''}`;
            return html`<${Tile} key=${id} machine=${m} live=${live} summary=${summary} status=${status} sig=${sig} now=${now} />`;
          })}
        </div>
      </section>`)}
    </section>`)}
  </section>`;
}
