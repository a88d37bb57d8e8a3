// Coalesces re-render requests: each request says how soon it wants a render, one timer
// serves them all and the earliest wins. requestSoon() asks for a render at once, but no
// sooner than gapMs after the previous one (a flood of alarms cannot render in a loop).
export function renderScheduler(render, clock = {}) {
  const setTimer = clock.setTimer || ((fn, ms) => setTimeout(fn, ms));
  const clearTimer = clock.clearTimer || ((t) => clearTimeout(t));
  const now = clock.now || (() => performance.now());
  let timer = null;
  let dueAt = 0;
  let renderedAt = -Infinity;

  function request(delayMs) {
    const at = now() + delayMs;
    if (timer !== null) {
      if (at >= dueAt) return;
      clearTimer(timer);
    }
    dueAt = at;
    timer = setTimer(() => {
      timer = null;
      renderedAt = now();
      render();
    }, delayMs);
  }

  function requestSoon(gapMs) {
    request(Math.max(0, renderedAt + gapMs - now()));
  }

  return { request, requestSoon };
}
