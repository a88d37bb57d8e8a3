// One sensor's chart: uPlot with time and value axes, the unit, the thresholds in force as
// dashed lines, min/max bands on long ranges; drag to zoom, double-click to reset.
import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { PRIORITIES } from './format.js';
import { columns, decimate } from './series.js';

const LIMIT_COLOURS = { critical: '#c8102e', high: '#e07000', medium: '#b8a000', low: '#5a5a9a' };

function thresholdLines(thresholds) {
  return {
    hooks: {
      draw: [
        (u) => {
          const { ctx, bbox } = u;
          ctx.save();
          ctx.setLineDash([6, 4]);
          ctx.lineWidth = 1.5 * devicePixelRatio;
          ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
          for (const t of thresholds.current) {
            const y = u.valToPos(t.value, 'y', true);
            if (y < bbox.top || y > bbox.top + bbox.height) continue;
            ctx.strokeStyle = LIMIT_COLOURS[t.severity] || '#555';
            ctx.fillStyle = ctx.strokeStyle;
            ctx.beginPath();
            ctx.moveTo(bbox.left, y);
            ctx.lineTo(bbox.left + bbox.width, y);
            ctx.stroke();
            const p = PRIORITIES[t.severity];
            const label = `${p ? p.shape : ''} ${t.kind} ${t.value}`;
            const x = bbox.left + bbox.width - ctx.measureText(label).width - 4 * devicePixelRatio;
            ctx.fillText(label, x, y - 4 * devicePixelRatio);
          }
          ctx.restore();
        },
      ],
    },
  };
}

// Every chart draw, for scripts and tests in the browser: {title, points, start, at} in
// performance.now() milliseconds (the newest 200 kept).
const draws = [];
function recordDraw(title) {
  let start = 0;
  return {
    drawClear: [() => {
      start = performance.now();
    }],
    draw: [(u) => {
      draws.push({ title, points: u.data[0].length, start, at: performance.now() });
      if (draws.length > 200) draws.splice(0, 100);
    }],
  };
}

// What uPlot is given: band series as they are (windowed history is already short), a
// plain series decimated to the plot's width for [lo, hi] (seconds).
export function plotArrays(data, lo, hi, width) {
  if (data.min) return [data.x, data.y, data.min, data.max];
  const n = data.x.length;
  if (!n) return [data.x, data.y];
  const d = decimate(data.x, data.y, lo ?? data.x[0], hi ?? data.x[n - 1], width);
  return [d.x, d.y];
}

function options(width, unit, thresholds, bands, onZoom, title = '', onScale = () => {}) {
  const series = [{}, { label: 'value', stroke: '#2f3b4c', width: 1.5, points: { show: false } }];
  if (bands) {
    series.push({ label: 'min', stroke: '#9aa3ad', width: 0.5, points: { show: false } });
    series.push({ label: 'max', stroke: '#9aa3ad', width: 0.5, points: { show: false } });
  }
  return {
    width,
    height: 220,
    series,
    bands: bands ? [{ series: [3, 2], fill: 'rgba(120,130,145,0.18)' }] : [],
    legend: { show: false },
    cursor: { drag: { x: true, y: false } },
    scales: {
      x: { time: true },
      y: {
        range: (u, min, max) => {
          const values = thresholds.current.map((t) => t.value);
          const lo = Math.min(min ?? 0, ...values);
          const hi = Math.max(max ?? 1, ...values);
          const pad = (hi - lo || 1) * 0.08;
          return [lo - pad, hi + pad];
        },
      },
    },
    axes: [
      { stroke: '#444', grid: { stroke: '#e3e5e8' } },
      { stroke: '#444', grid: { stroke: '#e3e5e8' }, label: unit, size: 60 },
    ],
    plugins: [thresholdLines(thresholds)],
    hooks: { setSelect: [(u) => onZoom(u)], setScale: [(u, key) => key === 'x' && onScale(u)], ...recordDraw(title) },
  };
}

// A chart with the console's options outside any view (its draw is recorded like any other).
function plotChart(el, title, unit, data) {
  const width = el.clientWidth || 600;
  const arrays = plotArrays(data, null, null, width);
  return new uPlot(options(width, unit, { current: [] }, !!data.min, () => {}, title), arrays, el);
}
window.millstreamConsole = { ...(window.millstreamConsole || {}), chartDraws: draws, plotChart, columns };

// data: {x: [s], y: [..], min?: [..], max?: [..]} (arrays or typed arrays); version
// changes when data changed. uPlot gets at most two points per pixel column of the range
// shown; a zoom decimates the zoomed range again from every point.
export function Chart({ title, unit, data, version, thresholds, range, end, stale }) {
  const box = useRef(null);
  const plot = useRef(null);
  const zoomed = useRef(false);
  const limits = useRef(thresholds);
  const full = useRef(data);
  const shown = useRef({ lo: 0, hi: 0 });
  limits.current = thresholds;
  full.current = data;
  const bands = !!data.min;

  // Give uPlot the points of [lo, hi] at the plot's width (unless already given).
  const feed = (u, lo, hi, resetScales) => {
    if (shown.current.lo === lo && shown.current.hi === hi && shown.current.data === full.current) return;
    shown.current = { lo, hi, data: full.current };
    u.setData(plotArrays(full.current, lo, hi, u.width), resetScales);
  };

  useEffect(() => {
    const el = box.current;
    const width = el.clientWidth || 600;
    const onScale = (u) => {
      const { min, max } = u.scales.x;
      // After uPlot's own zoom is done, not inside it.
      if (zoomed.current && min != null && max != null) queueMicrotask(() => plot.current === u && feed(u, min, max, false));
    };
    const u = new uPlot(
      options(width, unit, limits, bands, () => {
        zoomed.current = true;
      }, title, onScale),
      plotArrays(data, null, null, width),
      el,
    );
    u.over.addEventListener('dblclick', () => {
      zoomed.current = false;
    });
    plot.current = u;
    const observer = new ResizeObserver(() => u.setSize({ width: el.clientWidth, height: 220 }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [bands, unit]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    const n = data.x.length;
    shown.current = {};
    if (zoomed.current) {
      feed(u, u.scales.x.min, u.scales.x.max, false);
      return;
    }
    const right = range ? (end || Date.now()) / 1000 : n ? data.x[n - 1] : 0;
    const left = range ? right - range : n ? data.x[0] : 0;
    feed(u, left, right, true);
    if (range) u.setScale('x', { min: left, max: right });
  }, [version, range, end]);

  useEffect(() => {
    if (plot.current) plot.current.redraw(true, false);
  }, [JSON.stringify(thresholds)]);

  return html`<figure class=${`chart ${stale ? 'stale' : ''}`} data-sensor=${title}
    data-thresholds=${JSON.stringify(thresholds.map((t) => t.value))} data-points=${data.x.length}>
    <figcaption>${title}${unit ? ` (${unit})` : ''}${stale ? html` <span class="age">${stale}</span>` : ''}</figcaption>
    <div ref=${box} class="plot" role="img" aria-label=${`${title} over time, ${data.x.length} points`}></div>
  </figure>`;
}
