/** Flag parsing shared by the benchmark scripts. */

/** A flag's whole-number value, at least `min`; a clear error otherwise. */
export function wholeNumber(flag: string, text: string | undefined, min: number): number {
  const n = Number(text);
  if (text === undefined || !Number.isSafeInteger(n) || n < min) {
    throw new Error(`${flag} takes a whole number of at least ${min}, not ${JSON.stringify(text)}`);
  }
  return n;
}
