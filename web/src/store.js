// What the console knows: machines, their newest values, alarms, the connection, messages.
// Components re-render through useStore(topics): readings ('values') at most every
// RENDER_MS however fast they arrive, at an animation frame, and only where values are
// shown (the overview, a machine); an alarm event ('alarms') at once, in the task that
// received it (at most every ALARM_RENDER_GAP_MS in a flood), so it is on screen without
// waiting for any timer or the readings' next turn.
import { useEffect, useState } from 'preact/hooks';
import { get } from './api.js';
import { live } from './live.js';
import { isNewHighPriority } from './format.js';
import { renderScheduler } from './schedule.js';

const RENDER_MS = 250;
const ALARM_RENDER_GAP_MS = 20;
export const FLOOD_ALARMS = 10; // ISA-18.2: more than 10 raised per 10 minutes
const FLOOD_WINDOW_MS = 10 * 60 * 1000;

export const state = {
  machines: [], // GET /api/machines
  machinesError: '',
  values: new Map(), // machine id -> {values, quality, ts, receivedAt, version}
  alarms: new Map(), // alarm id -> AlarmStateRecord (kept current by live events)
  alarmsError: '',
  connection: 'offline',
  lastOnlineAt: 0,
  messages: [], // {id, kind: 'error'|'info', text}
  cue: null, // the newest high/critical alarm, for the visual cue
  announcement: '',
  sound: localStorage.getItem('millstream.sound') === 'on',
};

export const TOPICS = ['values', 'alarms', 'other'];
const listeners = new Map(); // fn -> the topics it re-renders for
let pending = new Set();
const renders = renderScheduler(() => {
  const topics = pending;
  pending = new Set();
  for (const [fn, wanted] of listeners) {
    if (wanted.some((t) => topics.has(t))) fn();
  }
});
let messageId = 0;

export function changed(topic = 'other') {
  pending.add(topic);
  renders.request(RENDER_MS);
}

function changedNow() {
  pending.add('alarms');
  renders.now(ALARM_RENDER_GAP_MS);
}

// The state, and a re-render whenever one of `topics` changed (every topic if none named).
export function useStore(...topics) {
  const [, setTick] = useState(0);
  const wanted = topics.length ? topics : TOPICS;
  useEffect(() => {
    const fn = () => setTick((t) => t + 1);
    listeners.set(fn, wanted);
    return () => listeners.delete(fn);
  }, [wanted.join()]);
  return state;
}

export function say(text, kind = 'error') {
  const id = ++messageId;
  state.messages = [...state.messages, { id, kind, text }];
  changed();
  setTimeout(() => dismiss(id), kind === 'error' ? 15000 : 6000);
}

export function dismiss(id) {
  state.messages = state.messages.filter((m) => m.id !== id);
  changed();
}

export function setSound(on) {
  state.sound = on;
  localStorage.setItem('millstream.sound', on ? 'on' : 'off');
  changed();
}

export async function loadMachines() {
  try {
    state.machines = await get('/api/machines');
    state.machinesError = '';
    live.watchEveryMachine(state.machines.map((m) => String(m.machine_id)));
  } catch (err) {
    state.machinesError = err.message;
  }
  changed();
}

// Newest values of every machine from REST (GET /api/latest, where the API has it), so
// tiles of machines silent since the console opened show their last values, greyed.
export async function loadLatest() {
  let body;
  try {
    body = await get('/api/latest');
  } catch {
    return; // an API without the bulk route: tiles fill from /live
  }
  for (const m of body.machines || []) {
    const id = String(m.machine_id);
    if (state.values.has(id)) continue;
    const values = Object.fromEntries(Object.entries(m.values || {}).map(([k, v]) => [k, v.value]));
    const at = Date.parse(m.ts) || 0;
    state.values.set(id, { values, quality: {}, ts: m.ts, receivedAt: at, version: 1 });
  }
  changed('values');
}

export async function loadAlarms() {
  try {
    const records = await get('/api/alarms?limit=10000');
    for (const record of records) {
      const known = state.alarms.get(record.alarm_id);
      if (!known || known.updated_ts_ms <= record.updated_ts_ms) state.alarms.set(record.alarm_id, record);
    }
    state.alarmsError = '';
  } catch (err) {
    state.alarmsError = err.message;
  }
  changed('alarms');
}

function onReading(frame) {
  const id = String(frame.machine_id);
  const known = state.values.get(id);
  const values = known ? { ...known.values } : {};
  for (const k in frame) {
    const v = frame[k];
    if (typeof v === 'number' && k !== 'machine_id' && k !== 'seq') values[k] = v;
  }
  // A snapshot's reading may be old: its age counts from its own time.
  const receivedAt = frame.snapshot ? Math.min(Date.now(), Date.parse(frame.ts) || 0) : Date.now();
  state.values.set(id, {
    values,
    quality: frame.quality || {},
    ts: frame.ts,
    receivedAt,
    version: (known ? known.version : 0) + 1,
  });
  changed('values');
}

const ACTIVE_STATES = new Set(['active_unacknowledged', 'active_acknowledged']);

function onAlarm(frame) {
  const ts = Date.parse(frame.ts);
  const known = state.alarms.get(frame.alarm_id) || {};
  if (known.updated_ts_ms && known.updated_ts_ms > ts) return;
  const record = {
    ...known,
    alarm_id: frame.alarm_id,
    machine_id: frame.machine_id,
    sensor: frame.sensor,
    rule: frame.rule,
    plant: frame.plant,
    line: frame.line,
    severity: frame.severity,
    state: frame.state,
    value: frame.value,
    threshold: frame.threshold,
    message: frame.message,
    comment: frame.comment || known.comment || '',
    updated_ts_ms: ts,
    active: frame.state === 'shelved' ? known.active : ACTIVE_STATES.has(frame.state),
  };
  if (frame.event === 'raised') {
    record.raised_ts_ms = ts;
    record.acknowledged_by = null;
  }
  if (frame.event === 'acknowledged') {
    record.acknowledged_by = frame.by;
    record.acknowledged_ts_ms = ts;
  }
  if (frame.event === 'cleared') record.cleared_ts_ms = ts;
  if (frame.event === 'shelved') record.shelved_by = frame.by;
  state.alarms.set(frame.alarm_id, record);
  events.push(`${frame.alarm_id}#${frame.seq}#${frame.event}`);
  if (events.length > 5000) events.splice(0, 1000);
  if (frame.event === 'raised') {
    state.announcement = `${frame.severity} priority alarm on machine ${frame.machine_id}: ${frame.message || frame.sensor}`;
    if (isNewHighPriority(frame)) {
      state.cue = { ...record, at: Date.now() };
      if (state.sound) beep(frame.severity === 'critical' ? 880 : 660);
    }
  }
  changedNow();
}

// Every alarm event handled, for scripts and tests in the browser: "<alarm id>#<seq>#<event>".
const events = [];
window.millstreamConsole = { ...(window.millstreamConsole || {}), alarmEvents: events };

let audio = null;
function beep(freq) {
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = freq;
    gain.gain.value = 0.1;
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.3);
  } catch {
    // no audio output: the visual cue remains
  }
}

// Plants with more than FLOOD_ALARMS alarms raised within the last ten minutes.
export function floods(now = Date.now()) {
  const counts = new Map();
  for (const a of state.alarms.values()) {
    if (a.raised_ts_ms && now - a.raised_ts_ms <= FLOOD_WINDOW_MS) {
      counts.set(a.plant || '(no plant)', (counts.get(a.plant || '(no plant)') || 0) + 1);
    }
  }
  return [...counts].filter(([, n]) => n > FLOOD_ALARMS);
}

let wired = false;
export function startData() {
  if (!wired) {
    wired = true;
    live.on('reading', onReading);
    live.on('alarm', onAlarm);
    live.on('status', (status) => {
      const wasOffline = state.connection !== 'online';
      state.connection = status;
      if (status === 'online') {
        state.lastOnlineAt = Date.now();
        if (wasOffline) loadAlarms();
      }
      changed();
    });
  }
  live.start();
  live.watchAlarms(null);
  loadMachines();
  loadAlarms();
  loadLatest();
}

export function stopData() {
  live.stop();
  state.values.clear();
  state.alarms.clear();
  state.machines = [];
}
