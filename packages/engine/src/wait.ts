/**
 * Waits `ms`, or less when woken: `attach` receives the wake function (to be called later, not
 * from within `attach`) and answers how to detach it, which happens once, whichever comes first.
 * For a blocking read that an append cuts short.
 */
export function delayOrWake(ms: number, attach: (wake: () => void) => () => void): Promise<void> {
  return new Promise((resolve) => {
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      detach();
      resolve();
    };
    const timer = setTimeout(done, ms);
    const detach = attach(done);
  });
}
