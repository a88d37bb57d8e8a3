// Hash routes: #/overview, #/machine/42?range=1h, #/alarms?plant=..., #/thresholds/42/temperature_c,
// #/health, #/audit, #/admin. Every view's state that matters lives in its link.
import { useEffect, useState } from 'preact/hooks';

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

export function useRoute() {
  const [route, setRoute] = useState(parseHash());
  useEffect(() => {
    const fn = () => setRoute(parseHash());
    addEventListener('hashchange', fn);
    return () => removeEventListener('hashchange', fn);
  }, []);
  return route;
}

export function href(parts, query = {}) {
  const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== '' && v != null));
  const path = '#/' + parts.map(encodeURIComponent).join('/');
  return q.toString() ? `${path}?${q}` : path;
}

// Change the query of the current route without a new history entry.
export function setQuery(changes) {
  const { parts, query } = parseHash();
  for (const [k, v] of Object.entries(changes)) {
    if (v === '' || v == null) query.delete(k);
    else query.set(k, v);
  }
  history.replaceState(null, '', href(parts, Object.fromEntries(query)));
  dispatchEvent(new HashChangeEvent('hashchange'));
}
