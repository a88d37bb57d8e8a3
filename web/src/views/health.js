import { html } from 'htm/preact';
import { Unavailable } from './unavailable.js';

export function HealthView() {
  return html`<section><div class="toolbar"><h1>Alarm health</h1></div>
    <${Unavailable} what="Alarm health (ISA-18.2 KPIs)" needs="the alarm health route of the API" />
  </section>`;
}
