// Small charts drawn on <canvas> by the page's own code: no library, no CDN, and nothing the CSP
// would refuse (a canvas is painted from script; no inline style or markup).

const COLORS = { grid: '#263040', text: '#8b96a3', bar: '#58a6ff' };

/** The canvas's 2D context, its backing store sized for the display's pixel ratio. */
function surface(canvas: HTMLCanvasElement): { ctx: CanvasRenderingContext2D; width: number; height: number } | undefined {
  const ctx = canvas.getContext('2d');
  if (ctx === null) return undefined;
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = '11px system-ui, sans-serif';
  return { ctx, width, height };
}

const tidy = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString('en-US') : String(Math.round(n * 10) / 10));

/**
 * A line over time: `values` oldest first, one per sample, scaled from 0 to the largest value
 * (at least `floor`, so a quiet line stays low instead of filling the chart with noise).
 */
export function drawSparkline(canvas: HTMLCanvasElement, values: number[], color: string, floor = 1): void {
  const s = surface(canvas);
  if (s === undefined) return;
  const { ctx, width, height } = s;
  const top = Math.max(floor, ...values);
  const pad = 14;
  ctx.strokeStyle = COLORS.grid;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(0, height - 0.5);
  ctx.lineTo(width, height - 0.5);
  ctx.stroke();
  ctx.fillStyle = COLORS.text;
  ctx.fillText(`max ${tidy(top)}`, 4, 11);
  if (values.length < 2) return;
  const x = (i: number) => (i / (values.length - 1)) * width;
  const y = (v: number) => height - 1 - (Math.max(0, v) / top) * (height - pad - 2);
  ctx.beginPath();
  values.forEach((v, i) => (i === 0 ? ctx.moveTo(x(i), y(v)) : ctx.lineTo(x(i), y(v))));
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.stroke();
  ctx.lineTo(width, height);
  ctx.lineTo(0, height);
  ctx.closePath();
  ctx.globalAlpha = 0.18;
  ctx.fillStyle = color;
  ctx.fill();
  ctx.globalAlpha = 1;
}

/** Horizontal bars, one per labelled value, scaled to the largest (a zero shows as a thin mark). */
export function drawBars(canvas: HTMLCanvasElement, bars: { label: string; value: number; color?: string }[]): void {
  const s = surface(canvas);
  if (s === undefined) return;
  const { ctx, width, height } = s;
  if (bars.length === 0) {
    ctx.fillStyle = COLORS.text;
    ctx.fillText('nothing reported yet', 4, 14);
    return;
  }
  const top = Math.max(1, ...bars.map((b) => b.value));
  const row = Math.max(10, Math.min(22, height / bars.length));
  const labelWidth = Math.min(width * 0.45, Math.max(...bars.map((b) => ctx.measureText(b.label).width)) + 8);
  const valueWidth = 48;
  bars.forEach((bar, i) => {
    const y = i * row;
    ctx.fillStyle = COLORS.text;
    ctx.fillText(bar.label, 2, y + row * 0.7, labelWidth - 6);
    const span = width - labelWidth - valueWidth;
    ctx.fillStyle = bar.color ?? COLORS.bar;
    ctx.fillRect(labelWidth, y + row * 0.2, Math.max(2, (bar.value / top) * span), row * 0.6);
    ctx.fillStyle = COLORS.text;
    ctx.fillText(tidy(bar.value), width - valueWidth + 6, y + row * 0.7);
  });
}
