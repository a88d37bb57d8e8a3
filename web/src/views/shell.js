import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { can, endSession, session } from '../session.js';
import { useRoute } from '../router.js';
import { dismiss, floods, setSound, useStore } from '../store.js';
import { PRIORITIES, ago, isUnacknowledged } from '../format.js';
import { Overview } from './overview.js';
import { MachineView } from './machine.js';
import { AlarmsView } from './alarms.js';
import { ThresholdsView } from './thresholds.js';
import { HealthView } from './health.js';
import { AuditView } from './audit.js';
import { AdminView } from './admin.js';

const VIEWS = [
  { path: 'overview', label: 'Overview', role: 'operator', view: Overview },
  { path: 'alarms', label: 'Alarms', role: 'operator', view: AlarmsView },
  { path: 'machine', label: null, role: 'operator', view: MachineView },
  { path: 'thresholds', label: 'Thresholds', role: 'engineer', view: ThresholdsView },
  { path: 'health', label: 'Alarm health', role: 'engineer', view: HealthView },
  { path: 'audit', label: 'Audit', role: 'admin', view: AuditView },
  { path: 'admin', label: 'Users and keys', role: 'admin', view: AdminView },
];

function useNow(ms = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

function Banners({ state, now }) {
  const flooded = floods(now);
  const cue = state.cue && now - state.cue.at < 30000 ? state.cue : null;
  return html`
    ${state.connection !== 'online' &&
    html`<div class="banner offline" role="status" id="offline-banner">
      Offline: reconnecting to the server${state.lastOnlineAt ? ` (last data ${ago(state.lastOnlineAt, now)})` : ''}.
      Values shown are not live.
    </div>`}
    ${flooded.map(
      ([plant, n]) => html`<div class="banner flood" role="status">
        ⚠ Alarm flood in ${plant}: ${n} alarms raised in the last 10 minutes. Deal with the highest priorities first.
      </div>`,
    )}
    ${cue &&
    html`<a class=${`banner cue flash sev-${cue.severity}`} id="alarm-cue" href=${`#/alarms?focus=${encodeURIComponent(cue.alarm_id)}`}>
      <span class="prio">${PRIORITIES[cue.severity].shape} ${PRIORITIES[cue.severity].label} priority:</span>${' '}
      new alarm on machine ${cue.machine_id}: ${cue.message || cue.sensor}
    </a>`}`;
}

export function Shell() {
  const state = useStore('alarms', 'other'); // values re-render only the views showing them
  const route = useRoute();
  const now = useNow();
  const me = session();
  const name = route.parts[0] || 'overview';
  const entry = VIEWS.find((v) => v.path === name) || VIEWS[0];
  const unack = [...state.alarms.values()].filter(isUnacknowledged).length;
  const View = entry.view;
  return html`
    <a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <a class="brand" href="#/overview">Millstream</a>
      <nav aria-label="Views">
        ${VIEWS.filter((v) => v.label && can(v.role)).map(
          (v) => html`<a href=${`#/${v.path}`} aria-current=${v.path === name ? 'page' : undefined}>
            ${v.label}${v.path === 'alarms' && unack ? html` <span class="count" id="unack-count">${unack}</span>` : ''}
          </a>`,
        )}
      </nav>
      <span class=${`conn conn-${state.connection}`} id="connection" title="Live connection">${state.connection}</span>
      <label class="sound"><input type="checkbox" checked=${state.sound} onChange=${(e) => setSound(e.target.checked)} /> Sound</label>
      <span class="who" id="who">${me.name} (${me.role})</span>
      <button class="link" onClick=${() => endSession('You logged out.')}>Log out</button>
    </header>
    <${Banners} state=${state} now=${now} />
    <div class="messages" role="alert" aria-live="assertive">
      ${state.messages.map(
        (m) => html`<p class=${`msg msg-${m.kind}`} key=${m.id}>${m.text}
          <button class="link" aria-label="Dismiss" onClick=${() => dismiss(m.id)}>×</button></p>`,
      )}
    </div>
    <div class="sr-only" aria-live="polite" id="announcer">${state.announcement}</div>
    <main id="main" tabindex="-1">
      ${can(entry.role)
        ? html`<${View} route=${route} state=${state} now=${now} />`
        : html`<p class="notice">Your role (${me.role}) cannot open this view: it needs ${entry.role}.</p>`}
    </main>`;
}
