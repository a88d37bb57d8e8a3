import { html } from 'htm/preact';
import { Unavailable } from './unavailable.js';

export function Journal() {
  return html`<${Unavailable} what="The alarm journal" needs="an alarm history route (events from InfluxDB)" />`;
}
