import { html } from 'htm/preact';
import { Component } from 'preact';
import { useState } from 'preact/hooks';
import { acknowledge, shelve, unshelve } from '../actions.js';
import { setQuery } from '../router.js';
import { can } from '../session.js';
import { PRIORITIES, SEVERITIES, STATE_LABELS, byPriorityThenTime, isUnacknowledged, num, time } from '../format.js';
import { Journal } from './journal.js';

const SHELVE_DURATIONS = [
  [900, '15 min'],
  [3600, '1 h'],
  [4 * 3600, '4 h'],
  [8 * 3600, '8 h (a shift)'],
  [24 * 3600, '24 h'],
];

function Priority({ severity }) {
  const p = PRIORITIES[severity] || { shape: '?', label: severity };
  return html`<span class=${`prio-badge sev-${severity}`}><span aria-hidden="true">${p.shape}</span> ${p.label}</span>`;
}

function AlarmActions({ alarm }) {
  const [mode, setMode] = useState(null);
  const [comment, setComment] = useState('');
  const [duration, setDuration] = useState(3600);
  if (!can('engineer')) return null;
  const id = alarm.alarm_id;
  const close = () => {
    setMode(null);
    setComment('');
  };
  if (mode === 'ack') {
    return html`<form class="inline" onSubmit=${(e) => { e.preventDefault(); acknowledge(id, comment); close(); }}>
      <input aria-label="Acknowledge comment" placeholder="comment" maxlength="500" autofocus value=${comment} onInput=${(e) => setComment(e.target.value)} />
      <button type="submit">Acknowledge</button><button type="button" onClick=${close}>Cancel</button>
    </form>`;
  }
  if (mode === 'shelve') {
    return html`<form class="inline" onSubmit=${(e) => { e.preventDefault(); shelve(id, Number(duration), comment); close(); }}>
      <select aria-label="Shelve for" value=${duration} onChange=${(e) => setDuration(e.target.value)}>
        ${SHELVE_DURATIONS.map(([s, label]) => html`<option value=${s}>${label}</option>`)}
      </select>
      <input aria-label="Reason for shelving" placeholder="reason (required)" required maxlength="500" value=${comment} onInput=${(e) => setComment(e.target.value)} />
      <button type="submit">Shelve</button><button type="button" onClick=${close}>Cancel</button>
    </form>`;
  }
  return html`<span class="actions">
    ${isUnacknowledged(alarm) && html`<button class="ack" onClick=${() => setMode('ack')}>Ack…</button>`}
    ${alarm.state === 'shelved'
      ? html`<button onClick=${() => unshelve(id)}>Unshelve</button>`
      : alarm.state !== 'normal' && html`<button onClick=${() => setMode('shelve')}>Shelve…</button>`}
  </span>`;
}

const FRESH_MS = 30000;

function isFresh(a, now) {
  const high = a.severity === 'high' || a.severity === 'critical';
  return high && a.state === 'active_unacknowledged' && a.raised_ts_ms && now - a.raised_ts_ms < FRESH_MS;
}

// One alarm's row: re-rendered only when its record (replaced on every event), its
// freshness or its focus changed, so an alarm event renders one row, not the table.
class AlarmRow extends Component {
  shouldComponentUpdate(next) {
    return next.alarm !== this.props.alarm || next.fresh !== this.props.fresh || next.focused !== this.props.focused;
  }

  render({ alarm: a, fresh, focused }) {
    return html`<tr data-alarm=${a.alarm_id} data-state=${a.state} data-raised=${a.raised_ts_ms || 0}
      class=${`${isUnacknowledged(a) ? 'unack' : ''} ${fresh ? 'new' : ''} ${focused ? 'focus' : ''}`}>
      <td class="flash"><${Priority} severity=${a.severity} /></td>
      <td>${time(a.raised_ts_ms || a.updated_ts_ms)}</td>
      <td><a href=${`#/machine/${encodeURIComponent(a.machine_id)}`}>${a.machine_id}</a> <span class="muted">${a.plant}</span></td>
      <td>${a.message || `${a.sensor} ${a.rule}`}<br /><span class="muted">${a.alarm_id}</span></td>
      <td class="num">${num(a.value)} / ${num(a.threshold)}</td>
      <td class="state">${isUnacknowledged(a) ? html`<span aria-hidden="true">● </span>` : ''}${STATE_LABELS[a.state] || a.state}
        ${a.acknowledged_by && html`<br /><span class="muted">ack by ${a.acknowledged_by}${a.comment ? `: ${a.comment}` : ''}</span>`}
        ${a.state === 'shelved' && a.shelved_until_ts_ms ? html`<br /><span class="muted">until ${time(a.shelved_until_ts_ms)}</span>` : ''}</td>
      <td><${AlarmActions} alarm=${a} /></td>
    </tr>`;
  }
}

export function AlarmTable({ alarms, focus, now = Date.now() }) {
  return html`<table class="alarms-table">
    <thead><tr>
      <th scope="col">Priority</th><th scope="col">Time</th><th scope="col">Machine</th><th scope="col">Alarm</th>
      <th scope="col">Value / limit</th><th scope="col">State</th><th scope="col">Actions</th>
    </tr></thead>
    <tbody>${alarms.map((a) => html`<${AlarmRow} key=${a.alarm_id} alarm=${a} fresh=${!!isFresh(a, now)} focused=${a.alarm_id === focus} />`)}</tbody>
  </table>`;
}

function Filters({ query, plants }) {
  const sev = query.get('severity') || '';
  return html`<div class="toolbar filters">
    <label>Plant <select value=${query.get('plant') || ''} onChange=${(e) => setQuery({ plant: e.target.value })}>
      <option value="">All plants</option>${plants.map((p) => html`<option value=${p}>${p}</option>`)}
    </select></label>
    <label>Priority <select value=${sev} onChange=${(e) => setQuery({ severity: e.target.value })}>
      <option value="">All</option><option value="critical,high">High and critical</option>
      ${SEVERITIES.map((s) => html`<option value=${s}>${PRIORITIES[s].label}</option>`)}
    </select></label>
    <label>State <select value=${query.get('state') || 'open'} onChange=${(e) => setQuery({ state: e.target.value })}>
      <option value="open">Open (not normal, not shelved)</option>
      <option value="unack">Unacknowledged</option>
      <option value="active_acknowledged">Acknowledged</option>
      <option value="shelved">Shelved</option>
      <option value="all">All, with normal</option>
    </select></label>
  </div>`;
}

function matches(a, query) {
  const plant = query.get('plant');
  const sev = query.get('severity');
  const st = query.get('state') || 'open';
  if (plant && a.plant !== plant) return false;
  if (sev && !sev.split(',').includes(a.severity)) return false;
  if (st === 'open') return a.state !== 'normal' && a.state !== 'shelved';
  if (st === 'unack') return isUnacknowledged(a);
  if (st === 'all') return true;
  return a.state === st;
}

export function AlarmsView({ route, state, now }) {
  const tab = route.query.get('tab') || 'current';
  const plants = [...new Set(state.machines.map((m) => m.plant).filter(Boolean))].sort();
  const shown = [...state.alarms.values()].filter((a) => matches(a, route.query)).sort(byPriorityThenTime);
  return html`<section class="alarms">
    <div class="toolbar"><h1>Alarms</h1>
      <div role="tablist" class="tabs">
        <button role="tab" aria-selected=${tab === 'current'} onClick=${() => setQuery({ tab: '' })}>Current</button>
        <button role="tab" aria-selected=${tab === 'journal'} onClick=${() => setQuery({ tab: 'journal' })}>Journal</button>
      </div>
    </div>
    ${tab === 'journal'
      ? html`<${Journal} route=${route} />`
      : html`<${Filters} query=${route.query} plants=${plants} />
        ${state.alarmsError && html`<p class="error" role="alert">${state.alarmsError}</p>`}
        <p class="muted" id="alarm-count">${shown.length} alarm${shown.length === 1 ? '' : 's'}</p>
        ${shown.length ? html`<${AlarmTable} alarms=${shown} now=${now} focus=${route.query.get('focus')} />` : html`<p class="muted">No alarms match.</p>`}`}
  </section>`;
}
