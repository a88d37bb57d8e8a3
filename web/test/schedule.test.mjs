// node --test web/test: the console's render scheduling, on a fake clock and frames.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderScheduler } from '../src/schedule.js';

function fakeClock() {
  const clock = { t: 0, timers: new Map(), next: 1 };
  clock.now = () => clock.t;
  clock.setTimer = (fn, ms) => {
    const id = clock.next++;
    clock.timers.set(id, { fn, at: clock.t + ms });
    return id;
  };
  clock.clearTimer = (id) => clock.timers.delete(id);
  clock.frame = (fn) => clock.setTimer(fn, 16 - (clock.t % 16)); // 60 frames a second
  clock.advance = (ms) => {
    const end = clock.t + ms;
    for (;;) {
      const due = [...clock.timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      clock.timers.delete(due[0]);
      clock.t = due[1].at;
      due[1].fn();
    }
    clock.t = end;
  };
  return clock;
}

test('readings coalesce into one render per interval', () => {
  const clock = fakeClock();
  const renders = [];
  const s = renderScheduler(() => renders.push(clock.t), clock);
  for (let i = 0; i < 10; i++) {
    s.request(250);
    clock.advance(20);
  }
  clock.advance(500);
  assert.deepEqual(renders, [256], 'at the first animation frame after 250 ms');
});

test('an alarm renders at once although a readings render is pending', () => {
  const clock = fakeClock();
  const renders = [];
  const s = renderScheduler(() => renders.push(clock.t), clock);
  s.request(250);
  clock.advance(10);
  s.now(20);
  assert.deepEqual(renders, [10], 'in the same task: no timer, no frame');
  clock.advance(500);
  assert.deepEqual(renders, [10], 'the replaced readings render does not run as well');
});

test('a flood of alarms renders at most once per gap', () => {
  const clock = fakeClock();
  const renders = [];
  const s = renderScheduler(() => renders.push(clock.t), clock);
  for (let i = 0; i < 100; i++) {
    s.now(20);
    clock.advance(1);
  }
  assert.ok(renders.length <= 6, `${renders.length} renders in 100 ms`);
  for (let i = 1; i < renders.length; i++) assert.ok(renders[i] - renders[i - 1] >= 20);
});
