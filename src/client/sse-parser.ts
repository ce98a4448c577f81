/** One dispatched Server-Sent Event. */
export interface SseEvent {
  /** The `event:` field; `'message'` when there was none. */
  readonly event: string;
  /** The `data:` lines joined by `\n`. */
  readonly data: string;
  /** The `id:` field of this event, or `undefined` when it had none. */
  readonly id: string | undefined;
}

/**
 * A line parser for the `text/event-stream` format (WHATWG HTML, "Server-sent events"): lines end
 * with CRLF, LF or CR (a CR at the end of one chunk and an LF at the start of the next are one end),
 * a blank line dispatches the event, `:` starts a comment, one space after the field's colon is
 * dropped. Feed it decoded text in chunks of any size.
 */
export class SseParser {
  readonly #onEvent: (event: SseEvent) => void;
  readonly #onActivity: (() => void) | undefined;
  #buffer = '';
  #skipLf = false;
  #event = '';
  #data: string[] = [];
  #id: string | undefined;

  /** `onActivity` is called for every complete line, comments included (a heartbeat is activity). */
  constructor(onEvent: (event: SseEvent) => void, onActivity?: () => void) {
    this.#onEvent = onEvent;
    this.#onActivity = onActivity;
  }

  /** Parses `text`; complete events are handed to `onEvent` before this returns. */
  push(text: string): void {
    let start = 0;
    let i = 0;
    if (this.#skipLf && text.startsWith('\n')) {
      start = i = 1;
    }
    this.#skipLf = false;
    for (; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch !== 10 && ch !== 13) continue;
      this.#line(this.#buffer + text.slice(start, i));
      this.#buffer = '';
      if (ch === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.#skipLf = true;
        }
      }
      start = i + 1;
    }
    this.#buffer += text.slice(start);
  }

  #line(line: string): void {
    this.#onActivity?.();
    if (line === '') {
      this.#dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#event = value;
        break;
      case 'data':
        this.#data.push(value);
        break;
      case 'id':
        if (!value.includes('\u0000')) this.#id = value;
        break;
      default:
        // `retry` and unknown fields: this client keeps its own backoff.
        break;
    }
  }

  #dispatch(): void {
    const data = this.#data;
    const event = this.#event;
    const id = this.#id;
    this.#data = [];
    this.#event = '';
    this.#id = undefined;
    if (data.length === 0) return;
    this.#onEvent({ event: event === '' ? 'message' : event, data: data.join('\n'), id });
  }
}
