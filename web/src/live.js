// The /live WebSocket: authenticates with its first message, re-sends every subscription
// after a reconnect (backoff with jitter), and resumes the alarm stream from its cursor so
// no alarm event is lost or shown twice across an API restart.
import { endSession, session } from './session.js';

const POLICY_VIOLATION = 1008;
const MAX_BACKOFF_MS = 15000;

export class Live {
  constructor() {
    this.ws = null;
    this.status = 'offline';
    this.attempt = 0;
    this.machines = new Set(); // per-machine subscriptions
    this.everyMachine = []; // the overview's machines, when the server has no overview action
    this.overview = null; // null: unknown yet; true: subscribe_overview works; false: it does not
    this.watchingOverview = false; // while the overview is on screen
    this.alarms = null; // {plant} when subscribed to alarm events
    this.cursor = null;
    this.seen = new Set(); // alarm_id#seq of every alarm event handled
    this.handlers = { reading: new Set(), alarm: new Set(), status: new Set(), replayed: new Set() };
    this.timer = null;
    this.stopped = true;
    this.lastOpenAt = 0;
  }

  on(kind, fn) {
    this.handlers[kind].add(fn);
    return () => this.handlers[kind].delete(fn);
  }

  emit(kind, value) {
    for (const fn of this.handlers[kind]) fn(value);
  }

  setStatus(status) {
    this.status = status;
    this.emit('status', status);
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, 'logged out');
    this.ws = null;
    this.machines.clear();
    this.everyMachine = [];
    this.overview = null;
    this.watchingOverview = false;
    this.alarms = null;
    this.setStatus('offline');
  }

  connect() {
    const credential = session();
    if (!credential || !credential.secret) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/live`);
    this.ws = ws;
    this.setStatus(this.attempt ? 'reconnecting' : 'connecting');
    ws.onopen = () => {
      const auth = credential.kind === 'api_key' ? { api_key: credential.secret } : { token: credential.secret };
      ws.send(JSON.stringify({ action: 'auth', ...auth }));
      this.attempt = 0;
      this.lastOpenAt = Date.now();
      for (const id of this.subscribed()) this.send({ action: 'subscribe', machine_id: id, sensors: [] });
      if (this.watchingOverview && this.overview !== false) this.send({ action: 'subscribe_overview', interval_ms: 1000 });
      if (this.alarms) this.sendAlarmSubscription();
      this.setStatus('online');
    };
    ws.onmessage = (event) => this.receive(JSON.parse(event.data));
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (event.code === POLICY_VIOLATION && /credential|auth|revoked|expired/i.test(event.reason)) {
        endSession(`The server closed the live connection: ${event.reason}. Log in again.`);
        return;
      }
      if (this.stopped) return;
      this.setStatus('offline');
      const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
      this.attempt += 1;
      this.timer = setTimeout(() => this.connect(), base / 2 + Math.random() * (base / 2));
    };
  }

  receive(frame) {
    if (frame.type === 'reading') this.emit('reading', frame);
    else if (frame.type === 'alarm') {
      if (frame.cursor) this.cursor = frame.cursor;
      const key = `${frame.alarm_id}#${frame.seq}`;
      if (frame.seq && this.seen.has(key)) return;
      this.seen.add(key);
      this.emit('alarm', frame);
    } else if (frame.type === 'overview') {
      // 500 machines a second: each entry handed on as parsed, not copied.
      for (const m of frame.machines) {
        m.type = 'reading';
        m.snapshot = !!frame.snapshot;
        this.emit('reading', m);
      }
    } else if (frame.type === 'subscribed_overview') this.overview = true;
    else if (frame.type === 'dropped' && this.overview && this.watchingOverview) {
      this.send({ action: 'subscribe_overview', interval_ms: 1000 }); // a fresh snapshot
    } else if (frame.type === 'error' && /subscribe_overview/.test(frame.detail) && this.overview !== true) {
      // An API without the overview action: one subscription per machine instead.
      this.overview = false;
      if (!this.watchingOverview) return;
      for (const id of this.everyMachine) {
        if (!this.machines.has(id)) this.send({ action: 'subscribe', machine_id: id, sensors: [] });
      }
    } else if (frame.type === 'replayed') this.emit('replayed', frame);
  }

  // The machine ids this socket follows one by one.
  subscribed() {
    const ids = new Set(this.machines);
    if (this.overview === false && this.watchingOverview) for (const id of this.everyMachine) ids.add(id);
    return ids;
  }

  // Every machine of the overview: by the overview subscription, or one by one.
  watchEveryMachine(ids) {
    const before = this.subscribed();
    this.everyMachine = ids.map(String);
    if (this.overview !== false) return;
    for (const id of this.subscribed()) {
      if (!before.has(id)) this.send({ action: 'subscribe', machine_id: id, sensors: [] });
    }
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  sendAlarmSubscription() {
    const msg = { action: 'subscribe_alarms' };
    if (this.alarms.plant) msg.plant = this.alarms.plant;
    if (this.cursor) msg.cursor = this.cursor;
    this.send(msg);
  }

  // Every machine's newest values while the overview is on screen (on: true), and none of
  // them once it is not (other views show no values but their own machine's): a console
  // left on the alarms view receives, parses and stores nothing it does not show.
  watchOverview(on) {
    const before = this.subscribed();
    this.watchingOverview = on;
    if (this.overview !== false) {
      this.send(on ? { action: 'subscribe_overview', interval_ms: 1000 } : { action: 'unsubscribe_overview' });
      return;
    }
    const after = this.subscribed();
    for (const id of after) if (!before.has(id)) this.send({ action: 'subscribe', machine_id: id, sensors: [] });
    for (const id of before) if (!after.has(id)) this.send({ action: 'unsubscribe', machine_id: id });
  }

  // Every reading of one machine (the machine view's charts), not only the overview's.
  watchMachine(id) {
    id = String(id);
    if (this.machines.has(id)) return () => {};
    this.machines.add(id);
    this.send({ action: 'subscribe', machine_id: id, sensors: [] });
    return () => {
      this.machines.delete(id);
      if (!this.subscribed().has(id)) this.send({ action: 'unsubscribe', machine_id: id });
    };
  }

  watchAlarms(plant = null) {
    this.alarms = { plant };
    this.sendAlarmSubscription();
  }
}

export const live = new Live();
