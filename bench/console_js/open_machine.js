// The machine view for a range: from the route change to every chart drawn with its data.
async ([route, sensors, timeoutMs]) => {
  const draws = () => window.millstreamConsole.chartDraws;
  const t0 = performance.now();
  location.hash = route;
  const deadline = t0 + timeoutMs;
  const done = () => sensors.every((s) => draws().some((d) => d.start >= t0 && d.points > 1 && d.title === s));
  while (!done()) {
    if (performance.now() > deadline) return { error: 'charts not drawn', draws: draws().slice(-6) };
    await new Promise((r) => setTimeout(r, 5));
  }
  const mine = draws().filter((d) => d.start >= t0 && d.points > 1 && sensors.includes(d.title));
  const firstFull = sensors.map((s) => mine.find((d) => d.title === s));
  const fetches = performance.getEntriesByType('resource')
    .filter((e) => e.name.includes('/readings?') && e.startTime >= t0);
  return {
    total_ms: Math.max(...firstFull.map((d) => d.at)) - t0,
    fetched_ms: fetches.length ? Math.max(...fetches.map((e) => e.responseEnd)) - t0 : null,
    requests: fetches.map((e) => {
      const q = new URL(e.name).searchParams;
      return `${q.get('fn') || 'raw'}${q.get('source') ? ` (${q.get('source')})` : ''} ${Math.round(e.responseEnd - e.startTime)} ms`;
    }),
    draw_ms: firstFull.reduce((a, d) => a + (d.at - d.start), 0),
    points: firstFull.map((d) => d.points),
  };
}
