/**
 * Sorts `a[from, to)` ascending, in place. The values must not be NaN (every caller drops NaN
 * first); -0 and 0 compare equal, so their order among themselves is unspecified.
 *
 * Why not `Float64Array.prototype.sort`: V8 sorts typed arrays in C++ through a comparator called by
 * pointer for every comparison, and quantile sketches sort a buffer of 2,048 values each time it
 * fills, which made that sort a fifth of the event loop's time during an ingest (a `perf` profile).
 * Here the comparisons are inlined by the JIT: `bench/quantile-sketch.ts` reports both.
 *
 * Introsort: quicksort with a median-of-three pivot, insertion sort for short ranges, and heapsort
 * for a range that has recursed too deep, so no input makes it quadratic.
 */
export function sortDoubles(a: Float64Array, from = 0, to = a.length): void {
  if (to - from < 2) return;
  quickSort(a, from, to, 2 * Math.floor(Math.log2(to - from)));
}

/** Ranges this short are finished by insertion sort. */
const SHORT = 16;

function quickSort(a: Float64Array, lo: number, hi: number, depth: number): void {
  while (hi - lo > SHORT) {
    if (depth-- === 0) {
      heapSort(a, lo, hi);
      return;
    }
    const p = medianOfThree(a[lo]!, a[(lo + hi) >>> 1]!, a[hi - 1]!);
    // Hoare partition: equal values stop both scans, so runs of duplicates split evenly.
    let i = lo;
    let j = hi - 1;
    while (i <= j) {
      while (a[i]! < p) i++;
      while (a[j]! > p) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i++] = a[j]!;
        a[j--] = t;
      }
    }
    // Recurse into the smaller side, loop on the larger: the stack stays logarithmic.
    if (j + 1 - lo < hi - i) {
      quickSort(a, lo, j + 1, depth);
      lo = i;
    } else {
      quickSort(a, i, hi, depth);
      hi = j + 1;
    }
  }
  insertionSort(a, lo, hi);
}

function medianOfThree(x: number, y: number, z: number): number {
  if (x < y) return y < z ? y : x < z ? z : x;
  return x < z ? x : y < z ? z : y;
}

function insertionSort(a: Float64Array, lo: number, hi: number): void {
  for (let i = lo + 1; i < hi; i++) {
    const v = a[i]!;
    let j = i - 1;
    while (j >= lo && a[j]! > v) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = v;
  }
}

function heapSort(a: Float64Array, lo: number, hi: number): void {
  const n = hi - lo;
  for (let i = (n >>> 1) - 1; i >= 0; i--) siftDown(a, lo, i, n);
  for (let end = n - 1; end > 0; end--) {
    const t = a[lo]!;
    a[lo] = a[lo + end]!;
    a[lo + end] = t;
    siftDown(a, lo, 0, end);
  }
}

function siftDown(a: Float64Array, lo: number, root: number, n: number): void {
  const v = a[lo + root]!;
  let i = root;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && a[lo + child + 1]! > a[lo + child]!) child++;
    if (a[lo + child]! <= v) break;
    a[lo + i] = a[lo + child]!;
    i = child;
  }
  a[lo + i] = v;
}
