/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// A React page (no JSX, so no plugin: React.createElement) that mounts one component per id
// (?ids=a,b,c), each with useChordContext on one shared ChordConnection, and lets the test
// unmount some of them and write through one.
import { createElement, useState } from 'react';
import { flushSync } from 'react-dom';
import { createRoot } from 'react-dom/client';
import { ChordConnection } from '../../../src/client/index.js';
import { type ChordContextView, useChordContext } from '../../../src/react/index.js';

const ids = (new URLSearchParams(location.search).get('ids') ?? '').split(',').filter((id) => id !== '');
const connection = new ChordConnection({ url: new URL('/contexts', location.href).href });
const writers = new Map<string, ChordContextView['update']>();
let renders = 0;

function Room({ id }: { id: string }) {
  const { state, error, update } = useChordContext(connection, id);
  renders++;
  writers.set(id, update);
  return createElement(
    'li',
    { className: 'room', 'data-id': id, 'data-version': state === null ? '' : String(state.version), 'data-error': error?.serverCode ?? '' },
    state === null ? `${id}: nothing yet` : `${id}: ${JSON.stringify(state.context)}`,
  );
}

let setCount: (count: number) => void = () => {};
function App() {
  const [count, set] = useState(ids.length);
  setCount = set;
  return createElement('ul', null, ids.slice(0, count).map((id) => createElement(Room, { key: id, id })));
}

createRoot(document.body.appendChild(document.createElement('div'))).render(createElement(App));

Object.assign(globalThis, {
  chordPage: {
    /** Keeps the first `count` components mounted, unmounting the rest. */
    mount: (count: number) => flushSync(() => setCount(count)),
    /** An update through a mounted component's hook; resolves to the confirmed version. */
    update: async (id: string, changes: Record<string, unknown>) => (await writers.get(id)!(changes as never)).version,
    renders: () => renders,
  },
});
