/**
 * Small SVG line charts, written here so the page needs no chart library and no CDN. A chart holds named
 * series of (x, y) points, redraws at most once per animation frame however fast points arrive, and draws at
 * most a few hundred points per series (bucket means), so a run of thousands of steps stays cheap to show.
 */

const SVG = 'http://www.w3.org/2000/svg';
// About the size a chart is drawn at in the page's three columns, so 11-unit text stays about 11 px on screen.
const W = 400;
const H = 210;
const PAD = { left: 40, right: 10, top: 12, bottom: 28 };
/** Points drawn per series at most: more than the chart's width in pixels gains nothing. */
const MAX_POINTS = 320;
/** Series colours: CSS classes s0 … s7 (style.css), so dark mode can restyle them and no inline style is needed. */
const COLOURS = 8;

export interface ChartOptions {
  /** The y axis shows percentages of values in [0, 1]. */
  readonly percent?: boolean;
  /** Fixed y range; otherwise it fits the data. */
  readonly yMin?: number;
  readonly yMax?: number;
  /** Draw a moving average over the faint raw points (noisy per-step values). */
  readonly smooth?: boolean;
  /** A log y axis when every value is positive and they span more than this ratio (loss terms of different scales). */
  readonly logAbove?: number;
  /** Only whole numbers on the x axis (epochs). */
  readonly integerX?: boolean;
  /** Show dots at the points (few points, such as one per epoch). */
  readonly dots?: boolean;
  /** What the x axis counts, for the empty state and the axis title. */
  readonly xLabel: string;
  /** Said in the empty chart until data arrives. */
  readonly empty: string;
}

interface Series {
  readonly name: string;
  readonly colour: number;
  readonly xs: number[];
  readonly ys: number[];
}

function el<K extends keyof SVGElementTagNameMap>(
  name: K,
  attrs: Record<string, string | number>,
  parent?: Element,
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  parent?.appendChild(e);
  return e;
}

/** About `n` round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart). */
function ticks(lo: number, hi: number, n: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

/** A legend's value: more digits than an axis tick, since it is the number a user reads off. */
function precise(v: number, percent: boolean): string {
  return percent ? `${(v * 100).toFixed(1)}%` : String(+v.toPrecision(3));
}

/** Ticks of a log axis: the powers of ten in range, with 2× and 5× between them when the range spans few decades. */
function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  const few = Math.log10(hi / lo) < 2.5;
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
    for (const m of few ? [1, 2, 5] : [1]) {
      const v = m * 10 ** e;
      if (v >= lo && v <= hi) out.push(+v.toPrecision(12));
    }
  return out.length ? out : [lo, hi];
}

function label(v: number, percent: boolean): string {
  if (percent) return `${Math.round(v * 100)}%`;
  const a = Math.abs(v);
  if (a >= 1000) return `${+(v / 1000).toFixed(1)}k`;
  if (a >= 10 || v === 0) return String(+v.toFixed(1));
  return String(+v.toPrecision(2));
}

/** Bucket means, so a long series keeps its shape in at most `max` points. */
function thin(xs: number[], ys: number[], max: number): [number[], number[]] {
  if (xs.length <= max) return [xs, ys];
  const size = xs.length / max;
  const ox: number[] = [];
  const oy: number[] = [];
  for (let b = 0; b < max; b++) {
    const i0 = Math.floor(b * size);
    const i1 = Math.max(i0 + 1, Math.floor((b + 1) * size));
    let sx = 0;
    let sy = 0;
    for (let i = i0; i < i1; i++) {
      sx += xs[i];
      sy += ys[i];
    }
    ox.push(sx / (i1 - i0));
    oy.push(sy / (i1 - i0));
  }
  return [ox, oy];
}

/** A centred moving average (no lag, unlike an EMA): each point becomes the mean of its neighbours within `half`. */
function smooth(ys: number[], half: number): number[] {
  if (half < 1) return ys;
  const out: number[] = [];
  for (let i = 0; i < ys.length; i++) {
    const lo = Math.max(0, i - half);
    const hi = Math.min(ys.length - 1, i + half);
    let sum = 0;
    for (let k = lo; k <= hi; k++) sum += ys[k];
    out.push(sum / (hi - lo + 1));
  }
  return out;
}

export class LineChart {
  private readonly series = new Map<string, Series>();
  private readonly svg: SVGSVGElement;
  private readonly legend: HTMLUListElement;
  private frame = 0;

  constructor(
    host: HTMLElement,
    private readonly opts: ChartOptions,
  ) {
    host.replaceChildren();
    this.svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart-svg' });
    this.legend = document.createElement('ul');
    this.legend.className = 'legend';
    host.append(this.svg, this.legend);
    this.draw();
  }

  /** Adds a point to a series (created on first use, in the next free colour). */
  add(name: string, x: number, y: number): void {
    if (!Number.isFinite(x) || !Number.isFinite(y)) return;
    let s = this.series.get(name);
    if (!s) {
      s = { name, colour: this.series.size % COLOURS, xs: [], ys: [] };
      this.series.set(name, s);
    }
    // A resumed run logs again the steps after its last checkpoint: the series rewinds to that step instead of doubling back.
    while (s.xs.length && s.xs[s.xs.length - 1] >= x) {
      s.xs.pop();
      s.ys.pop();
    }
    s.xs.push(x);
    s.ys.push(y);
    this.schedule();
  }

  clear(): void {
    this.series.clear();
    this.schedule();
  }

  /** Number of points across all series (tests and the page's empty states read it). */
  get size(): number {
    let n = 0;
    for (const s of this.series.values()) n += s.xs.length;
    return n;
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  private draw(): void {
    const { svg, opts } = this;
    svg.replaceChildren();
    svg.dataset.points = String(this.size);
    const all = [...this.series.values()].filter((s) => s.xs.length);
    if (!all.length) {
      el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'chart-empty' }, svg).textContent = opts.empty;
      this.legend.replaceChildren();
      svg.setAttribute('aria-label', opts.empty);
      return;
    }
    let x0 = Number.POSITIVE_INFINITY;
    let x1 = Number.NEGATIVE_INFINITY;
    let y0 = Number.POSITIVE_INFINITY;
    let y1 = Number.NEGATIVE_INFINITY;
    for (const s of all)
      for (let i = 0; i < s.xs.length; i++) {
        x0 = Math.min(x0, s.xs[i]);
        x1 = Math.max(x1, s.xs[i]);
        y0 = Math.min(y0, s.ys[i]);
        y1 = Math.max(y1, s.ys[i]);
      }
    y0 = opts.yMin ?? y0;
    y1 = opts.yMax ?? y1;
    if (y1 - y0 < 1e-9) {
      y0 -= 0.5;
      y1 += 0.5;
    }
    // One x value (a single epoch so far): centre it rather than pin it to the left edge.
    if (x1 === x0) {
      x0 -= 0.5;
      x1 += 0.5;
    }
    const log = opts.logAbove !== undefined && y0 > 0 && y1 / y0 > opts.logAbove;
    // A margin above and below the data, so the extreme points and dots do not sit on the axis labels.
    if (log) {
      if (opts.yMin === undefined) y0 /= 1.15;
      if (opts.yMax === undefined) y1 *= 1.15;
    } else {
      const m = (y1 - y0) * 0.06;
      if (opts.yMin === undefined) y0 -= m;
      if (opts.yMax === undefined) y1 += m;
    }
    const fy = log ? Math.log10 : (y: number) => y;
    const [ly0, ly1] = [fy(y0), fy(y1)];
    const ix = W - PAD.left - PAD.right;
    const iy = H - PAD.top - PAD.bottom;
    const px = (x: number) => PAD.left + ((x - x0) / (x1 - x0)) * ix;
    const py = (y: number) => PAD.top + (1 - (fy(y) - ly0) / (ly1 - ly0)) * iy;

    const grid = el('g', { class: 'chart-grid' }, svg);
    for (const t of log ? logTicks(y0, y1) : ticks(y0, y1, 4)) {
      el('line', { x1: PAD.left, x2: W - PAD.right, y1: py(t), y2: py(t) }, grid);
      el('text', { x: PAD.left - 6, y: py(t) + 4, 'text-anchor': 'end' }, grid).textContent = label(t, !!opts.percent);
    }
    const xt = ticks(x0, x1, 5).filter((t) => (opts.integerX ? Number.isInteger(t) : true));
    for (const t of xt) el('text', { x: px(t), y: H - PAD.bottom + 16, 'text-anchor': 'middle' }, grid).textContent = label(t, false);
    el('text', { x: W - PAD.right, y: H - 2, 'text-anchor': 'end', class: 'chart-axis' }, grid).textContent = opts.xLabel;
    if (log) el('text', { x: W - PAD.right, y: PAD.top + 2, 'text-anchor': 'end', class: 'chart-axis' }, grid).textContent = 'log scale';

    const points = (xs: number[], ys: number[]) => xs.map((x, i) => `${px(x).toFixed(1)},${py(ys[i]).toFixed(1)}`).join(' ');
    for (const s of all) {
      const [xs, ys] = thin(s.xs, s.ys, MAX_POINTS);
      const cls = `s${s.colour}`;
      if (opts.smooth && xs.length > 8) {
        el('polyline', { points: points(xs, ys), class: `line raw ${cls}` }, svg);
        // A window of about 1/40 of the series: noise goes, the trend of a few hundred steps stays.
        el('polyline', { points: points(xs, smooth(ys, Math.round(xs.length / 40))), class: `line ${cls}` }, svg);
      } else el('polyline', { points: points(xs, ys), class: `line ${cls}` }, svg);
      if (opts.dots) for (let i = 0; i < xs.length; i++) el('circle', { cx: px(xs[i]), cy: py(ys[i]), r: 3, class: `dot ${cls}` }, svg);
    }

    const last = (s: Series) => s.ys[s.ys.length - 1];
    this.legend.replaceChildren(
      ...all.map((s) => {
        const li = document.createElement('li');
        li.className = `s${s.colour}`;
        li.dataset.series = s.name;
        li.textContent = `${s.name} ${precise(last(s), !!opts.percent)}`;
        return li;
      }),
    );
    svg.setAttribute('aria-label', all.map((s) => `${s.name}: ${precise(last(s), !!opts.percent)}`).join(', '));
  }
}
