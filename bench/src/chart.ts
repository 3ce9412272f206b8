/** Renders the report as one SVG: a horizontal grouped bar chart per scenario. No browser needed. */
import { SCENARIO_TITLES, SHORT, type Entry, type Scenario } from './results.js';

const WIDTH = 960;
const LABEL_W = 250;
const BAR_H = 13;
const COLORS: Record<string, string> = {
  'switchboard-redis': '#1f6feb',
  'switchboard-ingest': '#58a6ff',
  switchboard: '#1f6feb',
  'switchboard-sio': '#8957e5',
  'uws-bare': '#2da44e',
  'ws-broadcast': '#bf8700',
  'socketio-single': '#cf222e',
  'socketio-cluster': '#fa7970',
  'redis-xadd': '#6e7781',
  'switchboard-accepted': '#58a6ff',
  'switchboard-e2e': '#1f6feb',
};

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number) => (v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e4 ? `${(v / 1e3).toFixed(1)}k` : String(Math.round(v * 100) / 100));

function panel(title: string, unit: string, entries: Entry[], y0: number, log: boolean): { svg: string; height: number } {
  const cases = [...new Set(entries.map((e) => e.case))];
  const max = Math.max(...entries.map((e) => e.value), 1e-9);
  const min = Math.max(Math.min(...entries.filter((e) => e.value > 0).map((e) => e.value)), 1e-3);
  const plotW = WIDTH - LABEL_W - 170;
  const scale = (v: number) => {
    if (v <= 0) return 0;
    if (!log) return (v / max) * plotW;
    const lo = Math.log10(min) - 0.3;
    return Math.max(2, ((Math.log10(v) - lo) / (Math.log10(max) - lo)) * plotW);
  };
  const parts = [`<text x="10" y="${y0 + 18}" font-size="15" font-weight="bold">${esc(title)}${log ? ' — log scale' : ''}</text>`];
  let y = y0 + 30;
  for (const c of cases) {
    parts.push(`<text x="10" y="${y + 11}" font-size="12" font-weight="bold">${esc(c)}</text>`);
    y += 16;
    for (const e of entries.filter((x) => x.case === c)) {
      const w = scale(e.value);
      parts.push(
        `<text x="${LABEL_W - 6}" y="${y + 10}" font-size="11" text-anchor="end">${esc(SHORT[e.system] ?? e.system)}</text>`,
        `<rect x="${LABEL_W}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H - 2}" fill="${COLORS[e.system] ?? '#999'}"/>`,
        `<text x="${LABEL_W + w + 4}" y="${y + 10}" font-size="11">${fmt(e.value)} ${esc(unit)}</text>`,
      );
      y += BAR_H;
    }
    y += 6;
  }
  return { svg: parts.join('\n'), height: y - y0 + 10 };
}

export function renderChart(entries: Entry[], subtitle: string): string {
  const panels: string[] = [];
  let y = 48;
  // Latency spans orders of magnitude (a saturated system's p99 is seconds): log scale there.
  const logScale: Partial<Record<Scenario, boolean>> = { latency: true };
  for (const scenario of Object.keys(SCENARIO_TITLES) as Scenario[]) {
    const rows = entries.filter((e) => e.scenario === scenario && e.value > 0);
    if (rows.length === 0) continue;
    const p = panel(SCENARIO_TITLES[scenario], rows[0]!.unit, rows, y, logScale[scenario] === true);
    panels.push(p.svg);
    y += p.height;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y + 10}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="17" font-weight="bold">Switchboard side-by-side benchmark</text>`,
    `<text x="10" y="40" font-size="11" fill="#444">${esc(subtitle)}</text>`,
    ...panels,
    '</svg>',
    '',
  ].join('\n');
}
