// JSON helpers shared by the test suites.

/**
 * A canonical text for a JSON value: object keys sorted at every level (own keys only, `__proto__`
 * included), so deep-equal values give equal text whatever their key order (jsonb reorders keys).
 * Throws on a value JSON cannot hold, so a comparison never passes by dropping it.
 */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const object = value as Record<string, unknown>;
    return `{${Object.keys(object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(object[k])}`)
      .join(',')}}`;
  }
  const text = JSON.stringify(value);
  if (text === undefined) throw new Error(`not JSON: ${String(value)}`);
  return text;
}
