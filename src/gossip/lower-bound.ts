/** The first index of ascending `sorted` whose item is not below `item` (sorted.length if none): a binary search. */
export function lowerBound<T extends number | string>(sorted: readonly T[], item: T): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! < item) low = middle + 1;
    else high = middle;
  }
  return low;
}
