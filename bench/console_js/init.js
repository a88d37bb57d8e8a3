// Installed before the console's own scripts: long tasks and alarm rows, as they happen.
(() => {
  const now = () => performance.timeOrigin + performance.now();
  window.__bench = { longtasks: [], rows: {}, painted: {} };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        window.__bench.longtasks.push({ start: performance.timeOrigin + e.startTime, ms: e.duration });
      }
    }).observe({ type: 'longtask', buffered: true });
  } catch (e) { window.__bench.noLongtask = String(e); }
  const seen = (node) => {
    const rows = node.matches && node.matches('tr[data-alarm]') ? [node]
      : (node.querySelectorAll ? [...node.querySelectorAll('tr[data-alarm]')] : []);
    for (const row of rows) {
      const id = row.dataset.alarm;
      if (window.__bench.rows[id]) continue;
      window.__bench.rows[id] = now();
      requestAnimationFrame(() => { window.__bench.painted[id] = now(); });
    }
  };
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) seen(n);
  }).observe(document, { childList: true, subtree: true });
})();
