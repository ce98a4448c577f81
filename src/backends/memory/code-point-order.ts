/**
 * Compares two strings by Unicode code point, which is also the order of their UTF-8 bytes and
 * of PostgreSQL's `COLLATE "C"`. Returns a negative number, zero or a positive number.
 *
 * JS `<` compares UTF-16 code units instead, which puts code points above U+FFFF (stored as
 * surrogates, U+D800–U+DFFF) before U+E000–U+FFFF; this comparator does not.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

// At the first differing code unit of two well-formed strings, either both are low surrogates
// (same high surrogate before them: plain order is right) or the unit alone decides the code point
// order once surrogates are moved above U+E000–U+FFFF.
function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}
