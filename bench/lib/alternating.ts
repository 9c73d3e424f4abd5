/**
 * Measures each side in turn, `rounds` times, and keeps each side's best figure (lowest), so that
 * neither side always runs on a colder or busier machine. Each `measure` returns a cost (time per
 * operation), smaller being better.
 */
export function bestAlternating<K extends string>(
  measures: Record<K, () => number>,
  rounds = 2,
): Record<K, number> {
  const best = {} as Record<K, number>;
  for (let r = 0; r < rounds; r++)
    for (const name of Object.keys(measures) as K[]) {
      const figure = measures[name]();
      best[name] = r === 0 ? figure : Math.min(best[name], figure);
    }
  return best;
}
