/**
 * Each stage's training time in a run, from the metrics events it logs: from its first event to its last (with
 * `stepsOnly`, its first and last logged step, leaving out export and evaluation).
 */
export function stageTimer(o: { stepsOnly?: boolean } = {}) {
  const span: Record<string, [number, number]> = {};
  return {
    onEvent(e: Record<string, unknown>): void {
      if (typeof e.stage !== 'string' || (o.stepsOnly && e.step === undefined)) return;
      const now = Date.now();
      span[e.stage] ??= [now, now];
      span[e.stage][1] = now;
    },
    /** Seconds per stage so far. */
    seconds(): Record<string, number> {
      return Object.fromEntries(Object.entries(span).map(([k, [b, e]]) => [k, (e - b) / 1000]));
    },
  };
}
