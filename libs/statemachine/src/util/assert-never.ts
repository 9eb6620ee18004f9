/** Exhaustiveness check for discriminated unions: every `switch` ends in it (STYLE.md). */
export function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
}
