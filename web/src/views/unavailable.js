import { html } from 'htm/preact';

// A view whose data this server does not provide yet: said plainly, never faked.
export function Unavailable({ what, needs }) {
  return html`<div class="unavailable" role="status" data-unavailable=${what}>
    <p><strong>${what} is not available on this server.</strong></p>
    <p class="muted">It needs ${needs}, which this API version does not offer yet.</p>
  </div>`;
}
