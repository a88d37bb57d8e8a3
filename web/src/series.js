// History as uPlot wants it, and no more points than the chart has pixels.
//
// columns(): the REST answer's rows ({ts, <sensor>: value}) turned once into typed arrays
// per sensor (seconds, values), the times parsed once for every sensor.
// decimate(): at most two points per pixel column (the column's least and greatest value,
// in time order), so a day of 1 Hz points (86,400) draws as ~2,600 with the same envelope:
// every spike stays visible. Columns cover [lo, hi] (the visible range) finely and the
// rest of the data coarsely, so zooming out again still has the whole series to show.

// rows: [{ts, a: 1, b: 2}, ...] oldest first -> {a: {x: Float64Array, y: Float64Array}, ...}
export function columns(rows, sensors) {
  const n = rows.length;
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) t[i] = Date.parse(rows[i].ts) / 1000;
  const out = {};
  for (const s of sensors) {
    const x = new Float64Array(n);
    const y = new Float64Array(n);
    let k = 0;
    for (let i = 0; i < n; i++) {
      const v = rows[i][s];
      if (typeof v !== 'number') continue;
      x[k] = t[i];
      y[k] = v;
      k++;
    }
    out[s] = { x: x.subarray(0, k), y: y.subarray(0, k) };
  }
  return out;
}

// The first index with x[i] >= value (x ascending).
export function lowerBound(x, value) {
  let lo = 0;
  let hi = x.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Points i0..i1-1 into `cols` equal time columns; emit(i) each column's min and max, in
// time order.
function bin(x, y, i0, i1, from, to, cols, emit) {
  if (i1 <= i0) return;
  const width = (to - from) / cols || 1;
  let col = -1;
  let iMin = -1;
  let iMax = -1;
  const flush = () => {
    if (iMin < 0) return;
    emit(Math.min(iMin, iMax));
    emit(Math.max(iMin, iMax));
  };
  for (let i = i0; i < i1; i++) {
    const c = Math.min(cols - 1, Math.floor((x[i] - from) / width));
    if (c !== col) {
      flush();
      col = c;
      iMin = i;
      iMax = i;
    } else {
      if (y[i] < y[iMin]) iMin = i;
      if (y[i] > y[iMax]) iMax = i;
    }
  }
  flush();
}

// x, y: ascending times and their values (typed or plain arrays). Returns {x, y} with at
// most two points per column (`cols` columns over [lo, hi], cols/4 over each side beyond)
// and the first and last points. Series short enough are returned as they are.
export function decimate(x, y, lo, hi, cols) {
  const n = x.length;
  cols = Math.max(1, Math.round(cols));
  if (n <= 2 * cols || !(hi > lo)) return { x, y };
  const side = Math.max(1, Math.round(cols / 4));
  const a = lowerBound(x, lo);
  const b = lowerBound(x, hi + 1e-9);
  const outX = new Float64Array(2 * (cols + 2 * side) + 2);
  const outY = new Float64Array(outX.length);
  let k = 0;
  let last = -1;
  const emit = (i) => {
    if (i <= last) return;
    last = i;
    outX[k] = x[i];
    outY[k++] = y[i];
  };
  emit(0);
  bin(x, y, 0, a, x[0], lo, side, emit);
  bin(x, y, a, b, lo, hi, cols, emit);
  bin(x, y, b, n, hi, x[n - 1], side, emit);
  emit(n - 1);
  return { x: outX.subarray(0, k), y: outY.subarray(0, k) };
}
