/**
 * The remote address of a request, for the handler's per-client stream cap. A Web `Request` has
 * none, so the adapter that made it (`toNodeHandler`) records the socket's address here; other
 * runtimes give it through the handler's `clientKey` option instead.
 */
const addresses = new WeakMap<Request, string>();

/** Records the address `request` came from (called by the adapter that built it). */
export function setRemoteAddress(request: Request, address: string | undefined): void {
  if (address !== undefined && address !== '') addresses.set(request, address);
}

/** The address `request` came from, when the adapter that built it knew (`toNodeHandler` does); else `undefined`. */
export function remoteAddress(request: Request): string | undefined {
  return addresses.get(request);
}
