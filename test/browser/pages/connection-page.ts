/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// A page that follows many contexts through one ChordConnection (ids from the query:
// ?ids=a,b,c), shows each as a list item, and lets the test write through one of them.
import { ChordConnection } from '../../../src/client/index.js';

const ids = (new URLSearchParams(location.search).get('ids') ?? '').split(',').filter((id) => id !== '');
const connection = new ChordConnection({ url: new URL('/contexts', location.href).href });
const list = document.createElement('ul');
document.body.append(list);

const contexts = ids.map((id) => {
  const context = connection.context(id);
  const item = document.createElement('li');
  item.dataset.id = id;
  list.append(item);
  const show = (): void => {
    const state = context.state;
    item.dataset.version = state === null ? '' : String(state.version);
    item.dataset.error = context.error?.serverCode ?? '';
    item.textContent = state === null ? `${id}: nothing yet` : `${id}: ${JSON.stringify(state.context)}`;
  };
  context.subscribe(show);
  show();
  return context;
});

const byId = new Map(ids.map((id, i) => [id, contexts[i]!]));
Object.assign(globalThis, {
  chordPage: {
    connection,
    /** Each followed context's state as the page holds it. */
    states: () => Object.fromEntries(ids.map((id) => [id, byId.get(id)!.state])),
    /** An update through the page's client; resolves to the confirmed version. */
    update: async (id: string, changes: Record<string, unknown>) => (await byId.get(id)!.update(changes as never)).version,
  },
});
