// node --test web/test: history turned into typed arrays and decimated to pixel columns.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { columns, decimate, lowerBound } from '../src/series.js';

test('columns parse each time once and skip the sensors a row lacks', () => {
  const rows = [
    { ts: '2026-01-01T00:00:00Z', a: 1, b: 10 },
    { ts: '2026-01-01T00:00:01Z', a: 2 },
    { ts: '2026-01-01T00:00:02Z', a: 3, b: 30 },
  ];
  const out = columns(rows, ['a', 'b']);
  const t0 = Date.parse(rows[0].ts) / 1000;
  assert.ok(out.a.x instanceof Float64Array);
  assert.deepEqual([...out.a.x], [t0, t0 + 1, t0 + 2]);
  assert.deepEqual([...out.a.y], [1, 2, 3]);
  assert.deepEqual([...out.b.x], [t0, t0 + 2]);
  assert.deepEqual([...out.b.y], [10, 30]);
});

test('lowerBound finds the first time at or after a value', () => {
  const x = new Float64Array([1, 2, 2, 5]);
  assert.equal(lowerBound(x, 0), 0);
  assert.equal(lowerBound(x, 2), 1);
  assert.equal(lowerBound(x, 3), 3);
  assert.equal(lowerBound(x, 9), 4);
});

test('a day of 1 Hz points becomes two per column and keeps every spike', () => {
  const n = 86400;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = i;
    y[i] = Math.sin(i / 500);
  }
  y[12345] = 99; // one second's spike
  y[54321] = -99;
  const d = decimate(x, y, 0, n - 1, 1300);
  assert.ok(d.x.length <= 2 * (1300 + 2 * 325) + 2, `${d.x.length} points`);
  assert.ok(d.x.length > 1300);
  assert.ok([...d.y].includes(99) && [...d.y].includes(-99));
  assert.equal(Math.max(...d.y), 99);
  for (let i = 1; i < d.x.length; i++) assert.ok(d.x[i] > d.x[i - 1], 'times ascend');
  assert.equal(d.x[0], 0);
  assert.equal(d.x[d.x.length - 1], n - 1);
});

test('a zoomed range is fine, the rest coarse but still there', () => {
  const n = 86400;
  const x = Float64Array.from({ length: n }, (_, i) => i);
  const y = Float64Array.from({ length: n }, (_, i) => i % 7);
  const d = decimate(x, y, 40000, 40600, 1000);
  const inside = [...d.x].filter((t) => t >= 40000 && t <= 40600).length;
  assert.equal(inside, 601, 'fewer points than columns: every one kept');
  assert.equal(d.x[0], 0);
  assert.equal(d.x[d.x.length - 1], n - 1);
  assert.ok(d.x.length < 601 + 4 * 250 + 4);
});

test('a short series is returned as it is', () => {
  const x = [1, 2, 3];
  const y = [4, 5, 6];
  const d = decimate(x, y, 1, 3, 100);
  assert.equal(d.x, x);
  assert.equal(d.y, y);
});
