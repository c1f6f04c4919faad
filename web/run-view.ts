/**
 * The live view of a run: the three charts and the progress line (stage, epoch, step, images/s, elapsed), fed with
 * the metrics events the worker forwards. It only draws; the page decides when a run starts, ends or fails.
 */
import { LineChart } from './charts.js';
import { $ } from './dom.js';
import type { MetricEvent } from './protocol.js';

/** Keys of a step event that are not loss terms (every other number in it is one: ce, kd, at, ...). */
const META = new Set(['t', 'stage', 'step', 'phase', 'event', 'loss', 'grad_norm', 'acc', 'agree', 'epoch']);

export interface StageInfo {
  readonly name: string;
  readonly batchSize: number;
  readonly epochs: number;
  readonly trained: boolean;
}

const body = (id: string) => $(id).querySelector<HTMLElement>('.chart-body')!;

export function appendLog(line: string): void {
  $('run-log').textContent += `${line}\n`;
}

function setBar(f: number): void {
  $('progress-bar').style.width = `${Math.max(0, Math.min(1, f)) * 100}%`;
}

export class RunView {
  private readonly loss = new LineChart(body('chart-loss'), {
    xLabel: 'step',
    smooth: true,
    logAbove: 20,
    empty: 'The loss terms appear here once training starts.',
  });
  private readonly val = new LineChart(body('chart-val-acc'), {
    xLabel: 'epoch',
    percent: true,
    dots: true,
    integerX: true,
    empty: 'One point per stage and epoch, from the validation split.',
  });
  private readonly agree = new LineChart(body('chart-agree'), {
    xLabel: 'step',
    percent: true,
    smooth: true,
    yMax: 1,
    empty: 'How often the student picks the teacher’s class, for stages with a teacher.',
  });
  private stages: StageInfo[] = [];
  private startedAt = 0;
  private stage = '';
  private step = -1;
  /** Steps per epoch of each stage, from the stage's start event (or, in a log without one, its first epoch event). */
  private readonly perEpoch = new Map<string, number>();
  /** Recent (time, step) of the current stage, for images/s. */
  private recent: { t: number; step: number }[] = [];
  private rate = 0;
  private timer = 0;
  private active = false;
  /** What the line says before the first step (loading data, checking the teacher). */
  private label = '';

  /** `paused` tells the progress line whether the run is paused (the page's state). */
  constructor(private readonly paused: () => boolean) {}

  /** Clears the charts for a new run and starts the progress line's clock. */
  begin(label: string): void {
    this.loss.clear();
    this.val.clear();
    this.agree.clear();
    $('run-log').textContent = '';
    this.perEpoch.clear();
    this.recent = [];
    this.stage = '';
    this.step = -1;
    this.rate = 0;
    this.startedAt = Date.now();
    this.active = true;
    this.label = label;
    $('progress').textContent = label;
    setBar(0);
    clearInterval(this.timer);
    // The line also shows elapsed time, so it ticks while the data loads and between steps.
    this.timer = window.setInterval(() => this.show(), 1000);
  }

  /** The worker started the run: its stages, and for a resumed run the events logged before the interruption. */
  started(name: string, resumed: boolean, stages: readonly StageInfo[], history: readonly MetricEvent[]): void {
    this.stages = [...stages];
    this.events(history, true);
    this.label = resumed
      ? `Resuming ${name}: loading the data and checkpoints…`
      : `Preparing ${name}: loading the data, checking the teacher…`;
    $('progress').textContent = this.label;
    if (resumed) appendLog(`resuming ${name} (${history.length} earlier events restored)`);
  }

  events(events: readonly MetricEvent[], replay = false): void {
    for (const e of events) {
      const stage = typeof e.stage === 'string' ? e.stage : '';
      if (typeof e.step === 'number' && e.event === undefined) this.onStep(stage, e, replay);
      else if (e.event === 'epoch') this.onEpoch(stage, e);
      else if (e.event === 'start' && typeof e.stepsPerEpoch === 'number') this.perEpoch.set(stage, e.stepsPerEpoch);
      else if (e.event === 'resumed') appendLog(`${stage}: resumed from ${String(e.checkpoint)} at step ${String(e.step)}`);
    }
    if (!replay) this.show();
  }

  /** The run ended (done or failed): the clock stops and the line says `text`. */
  end(text: string, done: boolean): void {
    clearInterval(this.timer);
    this.active = false;
    if (done) setBar(1);
    $('progress').textContent = text;
  }

  private onStep(stage: string, e: MetricEvent, replay: boolean): void {
    const step = e.step as number;
    const pre = e.phase === 'pretrain' ? ' (pre-training)' : '';
    const terms = Object.keys(e).filter((k) => !META.has(k) && typeof e[k] === 'number');
    for (const k of terms) this.loss.add(`${stage}${pre} · ${k}`, step, e[k] as number);
    // The total equals the only term when there is one; drawing it too would hide that line.
    if (terms.length !== 1 && typeof e.loss === 'number') this.loss.add(`${stage}${pre} · total`, step, e.loss);
    if (typeof e.agree === 'number') this.agree.add(stage, step, e.agree);
    if (stage !== this.stage) {
      this.stage = stage;
      this.recent = [];
      this.rate = 0;
    }
    this.step = step;
    if (replay || typeof e.t !== 'number') return;
    this.recent.push({ t: e.t, step });
    // A window of a few seconds: steps arrive in bursts (one ORT run holds several), so neighbours give no rate.
    while (this.recent.length > 2 && e.t - this.recent[0].t > 4000) this.recent.shift();
    const a = this.recent[0];
    const dt = (e.t - a.t) / 1000;
    const bs = this.stages.find((s) => s.name === stage)?.batchSize ?? 0;
    if (dt > 0.5) this.rate = ((step - a.step) * bs) / dt;
  }

  private onEpoch(stage: string, e: MetricEvent): void {
    // valAccuracy, or testAccuracy when the config has no validation split.
    const key = Object.keys(e).find((k) => k.endsWith('Accuracy'));
    const epoch = e.epoch as number;
    if (key && typeof e[key] === 'number') this.val.add(stage, epoch, e[key] as number);
    if (!this.perEpoch.has(stage) && stage === this.stage && epoch > 0) this.perEpoch.set(stage, Math.round((this.step + 1) / epoch));
  }

  private show(): void {
    if (!this.active) return;
    const secs = Math.round((Date.now() - this.startedAt) / 1000);
    const elapsed = secs >= 60 ? `${Math.floor(secs / 60)} min ${secs % 60} s` : `${secs} s`;
    if (!this.stage) {
      $('progress').textContent = `${this.label} · ${elapsed}`;
      return;
    }
    const idx = this.stages.findIndex((s) => s.name === this.stage);
    const info = this.stages[idx];
    const spe = this.perEpoch.get(this.stage);
    const parts = [`Stage ${idx + 1} of ${this.stages.length}: ${this.stage}`];
    if (info && spe) {
      const total = spe * info.epochs;
      parts.push(`epoch ${Math.min(info.epochs, Math.floor((this.step + 1) / spe) + 1)} of ${info.epochs}`);
      parts.push(`step ${this.step + 1} of ${total}`);
      setBar((this.step + 1) / total);
    } else {
      parts.push(`epoch 1 of ${info?.epochs ?? '?'}`, `step ${this.step + 1}`);
      setBar(0);
    }
    if (this.paused()) parts.push('paused');
    else if (this.rate > 0) parts.push(`${Math.round(this.rate).toLocaleString('en')} images/s`);
    parts.push(elapsed);
    $('progress').textContent = parts.join(' · ');
  }
}
