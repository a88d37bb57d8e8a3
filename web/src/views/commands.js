import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { command } from '../actions.js';
import { sensorsOf } from '../format.js';

// Stop, start, setpoint: each asks for confirmation first.
export function Commands({ machine }) {
  const id = String(machine.machine_id);
  const [pending, setPending] = useState(null);
  const [target, setTarget] = useState('feed_override_pct');
  const [value, setValue] = useState('');
  const [reason, setReason] = useState('');
  const body = (action) =>
    action === 'setpoint' ? { action, target, value: Number(value), reason } : { action, reason };
  const describe = (b) =>
    b.action === 'setpoint' ? `Set ${b.target} of machine ${id} to ${b.value}?` : `${b.action === 'stop' ? 'Stop' : 'Start'} machine ${id}?`;
  return html`<section class="commands" aria-labelledby="commands-title">
    <h2 id="commands-title">Commands</h2>
    <label>Reason <input value=${reason} maxlength="500" onInput=${(e) => setReason(e.target.value)} /></label>
    <div class="row">
      <button onClick=${() => setPending(body('stop'))}>Stop…</button>
      <button onClick=${() => setPending(body('start'))}>Start…</button>
      <label>Setpoint <select value=${target} onChange=${(e) => setTarget(e.target.value)}>
        ${sensorsOf(machine).map((s) => html`<option value=${s.name}>${s.name}</option>`)}
      </select></label>
      <input type="number" aria-label="Setpoint value" value=${value} onInput=${(e) => setValue(e.target.value)} />
      <button disabled=${value === ''} onClick=${() => setPending(body('setpoint'))}>Set…</button>
    </div>
    ${pending && html`<div class="confirm" role="alertdialog" aria-label="Confirm command">
      <p>${describe(pending)}</p>
      <button class="danger" autofocus onClick=${() => { command(id, pending); setPending(null); }}>Confirm</button>
      <button onClick=${() => setPending(null)}>Cancel</button>
    </div>`}
  </section>`;
}
