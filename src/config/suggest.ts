// "Did you mean …" for mistyped option names, flags, commands and environment variables.

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** Case, `-` and `_` do not count towards the distance: `gossip-interval-ms` is gossipIntervalMs. */
function normaliseForMatch(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, "");
}

/**
 * The candidate closest to `word` within `maxDistance` edits (case, `-` and `_` ignored), or
 * undefined. A candidate ending in a unit (Ms, Bytes) also matches without it, since the unit is
 * what people leave out: `gossipIntrval` suggests gossipIntervalMs.
 */
export function suggestClosest(word: string, candidates: readonly string[], maxDistance = 2): string | undefined {
  const typed = normaliseForMatch(word);
  let best: string | undefined;
  let bestDistance = maxDistance + 1;
  for (const candidate of candidates) {
    const full = normaliseForMatch(candidate);
    const unitless = full.replace(/(ms|bytes)$/, "");
    const distance = Math.min(editDistance(typed, full), unitless === "" ? Infinity : editDistance(typed, unitless));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
