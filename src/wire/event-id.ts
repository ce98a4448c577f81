// The `id:` of the sync route's events, `<epoch>:<version>`: what the server sends and what a
// reconnecting client gives back as `Last-Event-ID`. Pure: shared by http/ and client/.

/**
 * The event id of a state at `version` of `epoch`. `undefined` (a backend that keeps no epochs)
 * is written as an empty epoch: `:<version>`.
 */
export function formatEventId(epoch: string | undefined, version: number): string {
  return `${epoch ?? ''}:${version}`;
}

/**
 * An event id cut into its parts, unchecked: the epoch is opaque and may itself contain `:`, so
 * the version is what follows the last one. `undefined` when there is no `:` at all.
 */
export function splitEventId(text: string): { readonly epochText: string; readonly versionText: string } | undefined {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return undefined;
  return { epochText: text.slice(0, colon), versionText: text.slice(colon + 1) };
}
