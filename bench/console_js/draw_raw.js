// The same charts fed the raw 1 Hz points: fetched and turned into typed arrays first
// (not timed), then drawn.
async ([url, key, sensors, unit]) => {
  const resp = await fetch(url, { headers: { 'X-API-Key': key } });
  if (!resp.ok) return { error: `${resp.status} ${await resp.text()}` };
  // As the console holds history: typed arrays per sensor (its own columns()), or plain
  // arrays for a console from before it had them.
  const points = (await resp.json()).points;
  const own = window.millstreamConsole.columns;
  const series = sensors.map((s) => {
    if (own) return { title: s, ...own(points, [s])[s] };
    const rows = points.filter((p) => typeof p[s] === 'number');
    return { title: s, x: rows.map((p) => Date.parse(p.ts) / 1000), y: rows.map((p) => p[s]) };
  });
  // The parsed answer's garbage is collected before the clock starts, not during.
  await new Promise((r) => setTimeout(r, 1000));
  const host = document.createElement('div');
  host.style.width = '1300px';
  document.body.appendChild(host);
  const boxes = series.map(() => host.appendChild(document.createElement('div')));
  await new Promise((r) => requestAnimationFrame(() => r()));
  const t0 = performance.now();
  const plots = series.map((d, i) => window.millstreamConsole.plotChart(boxes[i], d.title, unit, d));
  const constructed = performance.now();
  const drawn = () => sensors.every((s) => window.millstreamConsole.chartDraws.some((d) => d.start >= t0 && d.title === s));
  while (!drawn() && performance.now() - t0 < 30000) await new Promise((r) => setTimeout(r, 1));
  const mine = window.millstreamConsole.chartDraws.filter((d) => d.start >= t0 && sensors.includes(d.title));
  const result = {
    total_ms: Math.max(...mine.map((d) => d.at)) - t0,
    constructed_ms: constructed - t0,
    draw_ms: mine.reduce((a, d) => a + (d.at - d.start), 0),
    points: series.map((d) => d.x.length),
  };
  plots.forEach((p) => p.destroy());
  host.remove();
  return result;
}
