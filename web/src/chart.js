// One sensor's chart: uPlot with time and value axes, the unit, the thresholds in force as
// dashed lines, min/max bands on long ranges; drag to zoom, double-click to reset.
import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { PRIORITIES } from './format.js';

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

function options(width, unit, thresholds, bands, onZoom, title = '') {
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
    hooks: { setSelect: [(u) => onZoom(u)], ...recordDraw(title) },
  };
}

// A chart with the console's options outside any view (its draw is recorded like any other).
function plotChart(el, title, unit, data) {
  const arrays = data.min ? [data.x, data.y, data.min, data.max] : [data.x, data.y];
  return new uPlot(options(el.clientWidth || 600, unit, { current: [] }, !!data.min, () => {}, title), arrays, el);
}
window.millstreamConsole = { ...(window.millstreamConsole || {}), chartDraws: draws, plotChart };

// data: {x: [s], y: [..], min?: [..], max?: [..]}; version changes when data changed.
export function Chart({ title, unit, data, version, thresholds, range, end, stale }) {
  const box = useRef(null);
  const plot = useRef(null);
  const zoomed = useRef(false);
  const limits = useRef(thresholds);
  limits.current = thresholds;
  const bands = !!data.min;

  useEffect(() => {
    const el = box.current;
    const arrays = () => (bands ? [data.x, data.y, data.min, data.max] : [data.x, data.y]);
    const u = new uPlot(
      options(el.clientWidth || 600, unit, limits, bands, () => {
        zoomed.current = true;
      }, title),
      arrays(),
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
    const arrays = bands ? [data.x, data.y, data.min, data.max] : [data.x, data.y];
    u.setData(arrays, !zoomed.current);
    if (!zoomed.current && range) {
      const right = (end || Date.now()) / 1000;
      u.setScale('x', { min: right - range, max: right });
    }
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
