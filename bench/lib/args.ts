/** Reads `--name value` options from argv; numbers accept `_` separators (`--rows 10_000_000`). */
export function numberArg(name: string, fallback: number, argv: readonly string[] = process.argv): number {
  const i = argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= argv.length) return fallback;
  const n = Number(argv[i + 1]!.replaceAll('_', ''));
  if (!Number.isFinite(n) || n < 0)
    throw new Error(`--${name} needs a non-negative number, got ${argv[i + 1]}`);
  return n;
}

export function flagArg(name: string, argv: readonly string[] = process.argv): boolean {
  return argv.includes(`--${name}`);
}
