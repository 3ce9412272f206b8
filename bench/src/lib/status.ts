/**
 * A one-line progress display on stderr: rewritten in place on a terminal, one line per step
 * otherwise (CI logs). Shows elapsed time, step n/total and what is running.
 */
export class Status {
  private readonly started = performance.now();
  private step = 0;
  private current = '';
  private readonly tty = process.stderr.isTTY === true;
  private timer: NodeJS.Timeout | undefined;

  constructor(private total: number) {
    if (this.tty) this.timer = setInterval(() => this.render(), 500).unref();
  }

  private elapsed(): string {
    const s = Math.floor((performance.now() - this.started) / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  }

  private render(): void {
    const line = `[${this.elapsed()}] (${this.step}/${this.total}) ${this.current}`;
    if (this.tty) process.stderr.write(`\r\x1b[K${line.slice(0, (process.stderr.columns || 120) - 1)}`);
    else process.stderr.write(`${line}\n`);
  }

  /** A new step begins. */
  begin(what: string): void {
    this.step = Math.min(this.step + 1, this.total);
    this.current = what;
    this.render();
  }

  /** What the current step is doing now (terminal only). */
  update(what: string): void {
    this.current = what;
    if (this.tty) this.render();
  }

  /** A line that stays (a finished result or a warning). */
  note(line: string): void {
    process.stderr.write(`${this.tty ? '\r\x1b[K' : ''}${line}\n`);
    if (this.tty) this.render();
  }

  done(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.tty) process.stderr.write('\r\x1b[K');
    process.stderr.write(`finished in ${this.elapsed()}\n`);
  }
}
