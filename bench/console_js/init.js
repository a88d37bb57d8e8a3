// Installed before the console's own scripts: long tasks and alarm rows, as they happen.
(() => {
  const now = () => performance.timeOrigin + performance.now();
  window.__bench = { longtasks: [], rows: {}, painted: {}, received: {}, cues: {}, frames: {} };
  // When each alarm frame reaches the page (before the console handles it).
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        if (typeof e.data !== 'string') return;
        const type = (/"type":"([a-z_]+)"/.exec(e.data) || [])[1] || '?';
        window.__bench.frames[type] = (window.__bench.frames[type] || 0) + 1;
        if (!e.data.includes('"alarm"')) return;
        const t = now();
        try {
          const f = JSON.parse(e.data);
          if (f.type === 'alarm' && !window.__bench.received[f.alarm_id]) window.__bench.received[f.alarm_id] = t;
        } catch (err) { /* not JSON */ }
      });
    }
  };
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
  // The banner every view shows for a new high or critical alarm: its link names the alarm.
  const cue = () => {
    const link = document.getElementById('alarm-cue');
    const id = link && new URLSearchParams((link.getAttribute('href') || '').split('?')[1]).get('focus');
    if (!id || id in window.__bench.cues) return;
    window.__bench.cues[id] = 0;
    requestAnimationFrame(() => { window.__bench.cues[id] = now(); });
  };
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) seen(n);
    cue();
  }).observe(document, { childList: true, subtree: true, attributes: true, attributeFilter: ['href'] });
})();
