import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, optional, request } from '../api.js';
import { href } from '../router.js';
import { PRIORITIES, SEVERITIES, sensorsOf } from '../format.js';
import { say } from '../store.js';
import { Unavailable } from './unavailable.js';

const KINDS = ['high_high', 'high', 'low', 'low_low'];
const NUMBERS = [
  ['value', 'Value'],
  ['deadband', 'Deadband'],
  ['on_delay_s', 'On delay (s)'],
  ['off_delay_s', 'Off delay (s)'],
  ['realarm_delay_s', 'Re-alarm delay (s)'],
];

// "body.limits.high.value: must be ...; stale_after_s: ..." -> {"limits.high.value": "must be ..."}
export function fieldErrors(detail) {
  const out = {};
  for (const part of String(detail).split('; ')) {
    const m = /^(?:body\.)?(?:rule\.)?([\w.]+): (.*)$/s.exec(part);
    if (m) out[m[1]] = m[2];
    else out._ = (out._ ? `${out._}; ` : '') + part;
  }
  return out;
}

function toForm(rule) {
  const limits = {};
  for (const k of KINDS) {
    const l = rule && rule.limits && rule.limits[k];
    limits[k] = l ? { set: true, ...l } : { set: false, value: '', deadband: 0, severity: 'high', on_delay_s: 0, off_delay_s: 0, realarm_delay_s: 0, enabled: true };
  }
  return { limits, stale_after_s: (rule && rule.stale_after_s) ?? '', rate_of_change: (rule && rule.rate_of_change) || null };
}

function toBody(form) {
  const limits = {};
  for (const k of KINDS) {
    const { set, ...l } = form.limits[k];
    if (!set) continue;
    limits[k] = { ...l };
    for (const [f] of NUMBERS) limits[k][f] = l[f] === '' ? l[f] : Number(l[f]);
  }
  const body = { limits };
  if (form.stale_after_s !== '') body.stale_after_s = Number(form.stale_after_s);
  if (form.rate_of_change) body.rate_of_change = form.rate_of_change;
  return body;
}

function Side({ id, title, side }) {
  return html`<div class="side" id=${id}><h4>${title}</h4>
    <p><strong class="big" data-raised=${side.raised}>${side.raised}</strong> alarm${side.raised === 1 ? '' : 's'} raised</p>
    <p class="muted">${Object.entries(side.by_rule || {}).map(([r, n]) => `${r}: ${n}`).join(', ') || 'none'};
      in alarm ${Math.round(side.time_in_alarm_s / 60)} min</p></div>`;
}

// How many alarms the proposed rule would have raised over the last 7 days, against the
// rule in force: the API replays the sensor's history through the alarm engine's rules.
function Backtest({ path, form, onErrors }) {
  const [result, setResult] = useState(undefined);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  async function run() {
    setBusy(true);
    setError('');
    try {
      setResult(await optional('POST', `${path}/backtest`, { rule: toBody(form), start: '-7d', stop: 'now' }));
    } catch (err) {
      if (err instanceof ApiError && err.status === 422) onErrors(fieldErrors(err.detail));
      else setError(err.message);
    } finally {
      setBusy(false);
    }
  }
  if (result === null) return html`<${Unavailable} what="The backtest" needs="the threshold backtest route of the API" />`;
  return html`<div>
    <button type="button" id="run-backtest" disabled=${busy} onClick=${run}>${busy ? 'Replaying 7 days…' : 'Backtest the rule above'}</button>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${result && html`<div class="backtest-result" role="status">
      <${Side} id="backtest-proposed" title="Proposed rule" side=${result.proposed} />
      <${Side} id="backtest-in-force" title=${`Rule in force (${result.in_force_source})`} side=${result.in_force} />
      <p class="muted">${result.readings} readings from ${new Date(result.start).toLocaleString()} to ${new Date(result.stop).toLocaleString()}.</p>
    </div>`}
  </div>`;
}

function Field({ label, name, errors, children }) {
  const err = errors[name];
  return html`<label class=${err ? 'invalid' : ''}>${label} ${children}
    ${err && html`<span class="field-error" role="alert" data-field=${name}>${err}</span>`}</label>`;
}

function Editor({ machineId, sensor }) {
  const [form, setForm] = useState(null);
  const [etag, setEtag] = useState(null);
  const [source, setSource] = useState('');
  const [errors, setErrors] = useState({});
  const [conflict, setConflict] = useState(false);
  const [loadError, setLoadError] = useState('');
  const path = `/api/machines/${encodeURIComponent(machineId)}/thresholds/${encodeURIComponent(sensor)}`;

  async function load() {
    setErrors({});
    setConflict(false);
    try {
      const r = await request('GET', path);
      setForm(toForm(r.data));
      setEtag(r.etag);
      setSource(r.data.source);
      setLoadError('');
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        setForm(toForm(null));
        setEtag(null);
        setSource('none');
      } else setLoadError(err.message);
    }
  }
  useEffect(() => {
    setForm(null);
    load();
  }, [path]);

  async function save(event) {
    event.preventDefault();
    setErrors({});
    try {
      const r = await request('PUT', path, { body: toBody(form), headers: etag ? { 'If-Match': etag } : {} });
      setEtag(r.etag);
      setSource(r.data.source);
      say(`Rules of ${sensor} on ${machineId === '*' ? 'every machine' : `machine ${machineId}`} saved.`, 'info');
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) setConflict(true);
      else if (err instanceof ApiError && err.status === 422) setErrors(fieldErrors(err.detail));
      else setErrors({ _: err.message });
    }
  }

  if (loadError) return html`<p class="error" role="alert">${loadError}</p>`;
  if (!form) return html`<p class="muted">Loading…</p>`;
  const setLimit = (kind, field, value) =>
    setForm({ ...form, limits: { ...form.limits, [kind]: { ...form.limits[kind], [field]: value } } });
  return html`<form class="thresholds-form" onSubmit=${save} id="thresholds-form">
    <p class="muted">${source === 'default' ? 'In force: the default rule for every machine. Saving makes this machine its own.' : source === 'own' ? "In force: this machine's own rule." : 'No rule in force for this sensor yet.'}</p>
    ${conflict && html`<div class="notice conflict" role="alert" id="conflict">
      Someone changed this rule since you opened it. Reload to see the rule in force, then make your change again.
      <button type="button" onClick=${load}>Reload</button></div>`}
    ${errors._ && html`<p class="error" role="alert">${errors._}</p>`}
    ${KINDS.map((kind) => {
      const l = form.limits[kind];
      return html`<fieldset data-limit=${kind}>
        <legend><label class="check"><input type="checkbox" checked=${l.set} onChange=${(e) => setLimit(kind, 'set', e.target.checked)} /> ${kind.replace('_', ' ')}</label></legend>
        ${l.set && html`
          ${NUMBERS.map(([f, label]) => html`<${Field} label=${label} name=${`limits.${kind}.${f}`} errors=${errors}>
            <input type="number" step="any" name=${`limits.${kind}.${f}`} value=${l[f]} onInput=${(e) => setLimit(kind, f, e.target.value)} />
          </${Field}>`)}
          <${Field} label="Priority" name=${`limits.${kind}.severity`} errors=${errors}>
            <select value=${l.severity} onChange=${(e) => setLimit(kind, 'severity', e.target.value)}>
              ${SEVERITIES.map((s) => html`<option value=${s}>${PRIORITIES[s].label}</option>`)}
            </select>
          </${Field}>
          <label class="check"><input type="checkbox" checked=${l.enabled !== false} onChange=${(e) => setLimit(kind, 'enabled', e.target.checked)} /> Enabled</label>`}
      </fieldset>`;
    })}
    <${Field} label="Stale after (s)" name="stale_after_s" errors=${errors}>
      <input type="number" step="any" name="stale_after_s" value=${form.stale_after_s} onInput=${(e) => setForm({ ...form, stale_after_s: e.target.value })} />
    </${Field}>
    <section class="backtest"><h3>Backtest over the last 7 days</h3>
      <${Backtest} path=${path} form=${form} onErrors=${setErrors} />
    </section>
    <button type="submit" class="primary">Save</button>
  </form>`;
}

export function ThresholdsView({ route, state }) {
  const machineId = route.parts[1] || (state.machines[0] ? String(state.machines[0].machine_id) : '');
  const machine = state.machines.find((m) => String(m.machine_id) === machineId);
  const sensors = sensorsOf(machine || state.machines[0]).map((s) => s.name);
  const sensor = route.parts[2] || sensors[0] || 'temperature_c';
  const go = (m, s) => {
    location.hash = href(['thresholds', m, s]);
  };
  return html`<section class="thresholds">
    <div class="toolbar"><h1>Thresholds</h1>
      <label>Machine <select value=${machineId} onChange=${(e) => go(e.target.value, sensor)}>
        <option value="*">* (default for every machine)</option>
        ${state.machines.map((m) => html`<option value=${String(m.machine_id)}>${m.machine_id} ${m.name}</option>`)}
      </select></label>
      <label>Sensor <select value=${sensor} onChange=${(e) => go(machineId, e.target.value)}>
        ${sensors.map((s) => html`<option value=${s}>${s}</option>`)}
      </select></label>
    </div>
    ${machineId && html`<${Editor} key=${`${machineId}/${sensor}`} machineId=${machineId} sensor=${sensor} />`}
  </section>`;
}
