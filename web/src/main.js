import 'uplot/dist/uPlot.min.css';
import './console.css';
import { html } from 'htm/preact';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { onSession, session, endSession } from './session.js';
import { Login, logInWith } from './views/login.js';
import { Shell } from './views/shell.js';
import { startData, stopData } from './store.js';

// The link `make run` prints carries an API key in the fragment: log in with it, then drop
// it from the address bar (and from the history).
async function keyFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const key = params.get('api_key');
  if (!key) return;
  history.replaceState(null, '', location.pathname + '#/overview');
  try {
    await logInWith({ kind: 'api_key', secret: key });
  } catch (err) {
    endSession(`The key in the link was refused: ${err.message}`);
  }
}

function App() {
  const [current, setCurrent] = useState(session());
  const [ready, setReady] = useState(false);
  useEffect(() => {
    const off = onSession(setCurrent);
    keyFromFragment().finally(() => setReady(true));
    return off;
  }, []);
  const loggedIn = !!(current && current.secret);
  useEffect(() => {
    if (!ready || !loggedIn) return undefined;
    startData();
    return stopData;
  }, [ready, loggedIn]);
  if (!ready) return html`<p class="loading">Loading…</p>`;
  return loggedIn ? html`<${Shell} />` : html`<${Login} />`;
}

render(html`<${App} />`, document.getElementById('app'));
