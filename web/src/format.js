// Priorities, states and numbers as the console shows them (ISA-101: priority by colour
// and by shape and text, never colour alone).
export const PRIORITIES = {
  critical: { rank: 1, label: 'Critical', shape: '◆' },
  high: { rank: 2, label: 'High', shape: '▲' },
  medium: { rank: 3, label: 'Medium', shape: '■' },
  low: { rank: 4, label: 'Low', shape: '●' },
};
export const SEVERITIES = ['critical', 'high', 'medium', 'low'];

export const STATE_LABELS = {
  active_unacknowledged: 'Active, unacknowledged',
  active_acknowledged: 'Active, acknowledged',
  cleared_unacknowledged: 'Cleared, unacknowledged',
  shelved: 'Shelved',
  normal: 'Normal',
};

export function isUnacknowledged(alarm) {
  return alarm.state === 'active_unacknowledged' || alarm.state === 'cleared_unacknowledged';
}

export function isOpen(alarm) {
  return alarm.state !== 'normal' && alarm.state !== 'shelved';
}

export function isNewHighPriority(frame) {
  return frame.event === 'raised' && (frame.severity === 'high' || frame.severity === 'critical');
}

export function byPriorityThenTime(a, b) {
  const ra = (PRIORITIES[a.severity] || { rank: 9 }).rank;
  const rb = (PRIORITIES[b.severity] || { rank: 9 }).rank;
  if (ra !== rb) return ra - rb;
  return (b.raised_ts_ms || b.updated_ts_ms || 0) - (a.raised_ts_ms || a.updated_ts_ms || 0);
}

export function num(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  return value.toFixed(abs >= 1000 ? 0 : abs >= 100 ? 1 : 2);
}

export function time(ms) {
  if (!ms) return '–';
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

export function ago(ms, now = Date.now()) {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

export function sensorLabel(name) {
  return name.replace(/_(c|mm_s|kw|rpm|bar|pct)$/, '').replace(/_/g, ' ');
}

// A machine's sensors as [{name, unit}], from either registry shape: `sensors` as a list of
// {name, unit}, or `sensor_info` as {name: {unit}}; `extra` adds names seen in live values.
export function sensorsOf(machine, extra = []) {
  if (!machine) return [];
  const out = new Map();
  if (Array.isArray(machine.sensors)) {
    for (const s of machine.sensors) out.set(s.name, { name: s.name, unit: s.unit || '' });
  }
  for (const [name, info] of Object.entries(machine.sensor_info || {})) {
    out.set(name, { name, unit: (info && info.unit) || '' });
  }
  for (const name of extra) if (!out.has(name)) out.set(name, { name, unit: '' });
  return [...out.values()];
}

export function unitOf(machine, sensor) {
  const info = sensorsOf(machine).find((s) => s.name === sensor);
  return info && info.unit ? info.unit : '';
}
