// Coalesces re-render requests. request(delayMs) asks for a render within delayMs: one timer
// serves every request (the earliest wins) and the render itself waits for the next
// animation frame, so a second's readings touch the page once, just before it is painted.
// now(gapMs) renders at once, in the caller's task, with no timer and no frame to wait for
// (an alarm), unless the previous render was less than gapMs ago: then as soon as the gap
// allows (a flood of alarms cannot render in a loop). Either cancels what was pending.
export function renderScheduler(render, clock = {}) {
  const setTimer = clock.setTimer || ((fn, ms) => setTimeout(fn, ms));
  const clearTimer = clock.clearTimer || ((t) => clearTimeout(t));
  const frame = clock.frame || ((fn) => (typeof requestAnimationFrame === 'function' ? requestAnimationFrame(fn) : setTimeout(fn, 0)));
  const now = clock.now || (() => performance.now());
  let timer = null;
  let dueAt = 0;
  let waitingFrame = false;
  let renderedAt = -Infinity;

  function renderNow() {
    if (timer !== null) clearTimer(timer);
    timer = null;
    waitingFrame = false;
    renderedAt = now();
    render();
  }

  function request(delayMs, inFrame = true) {
    const at = now() + delayMs;
    if (waitingFrame && inFrame) return; // a render is about to happen anyway
    if (timer !== null) {
      if (at >= dueAt) return;
      clearTimer(timer);
    }
    dueAt = at;
    timer = setTimer(() => {
      timer = null;
      if (!inFrame) return renderNow();
      waitingFrame = true;
      frame(() => waitingFrame && renderNow());
    }, delayMs);
  }

  function renderSoon(gapMs) {
    const wait = renderedAt + gapMs - now();
    if (wait <= 0) renderNow();
    else request(wait, false);
  }

  return { request, now: renderSoon };
}
