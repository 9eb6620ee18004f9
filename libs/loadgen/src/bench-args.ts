/** Flag parsing shared by the benchmark scripts. */

/** A flag's whole-number value, at least `min`; a clear error otherwise (an empty value too). */
export function wholeNumber(flag: string, text: string | undefined, min: number): number {
  const n = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isSafeInteger(n) || n < min) {
    throw new Error(`${flag} takes a whole number of at least ${min}, not ${JSON.stringify(text)}`);
  }
  return n;
}

/** `text` if it is one of `choices`, or an error naming the flag and the choices. */
export function oneOf<T extends string>(flag: string, text: string | undefined, choices: readonly T[]): T {
  if (text === undefined || !(choices as readonly string[]).includes(text)) {
    throw new Error(`${flag} takes ${choices.join(', ')}, not ${JSON.stringify(text)}`);
  }
  return text as T;
}

/** The systems `--target keyval|etcd|both` names. */
export function targetsOf(text: string | undefined): ('keyval' | 'etcd')[] {
  const t = oneOf('--target', text, ['keyval', 'etcd', 'both'] as const);
  return t === 'both' ? ['keyval', 'etcd'] : [t];
}
