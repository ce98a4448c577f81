/**
 * The page `chord-sync serve` shows: a sticky-note board that every open window shares live. It
 * loads `ChordClient` from the package's own built client (served under `/lib/`), renders each
 * state the client shows, and writes through the client (`update`): a note shows at once, before
 * the server has answered, and goes again if the server refuses it.
 */
export function demoPage(contextId: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chord-sync live board</title>
<style>
  :root { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; }
  body { margin: 0; background: #f6f8fa; }
  header { display: flex; gap: 12px; align-items: center; padding: 12px 16px; background: #fff; border-bottom: 1px solid #d0d7de; }
  header h1 { font-size: 16px; margin: 0 8px 0 0; }
  header input { flex: 1; max-width: 320px; padding: 6px 8px; border: 1px solid #d0d7de; border-radius: 6px; font: inherit; }
  header button { padding: 6px 12px; border: 0; border-radius: 6px; background: #1f883d; color: #fff; font: inherit; cursor: pointer; }
  #status { margin-left: auto; font-size: 12px; color: #57606a; font-family: ui-monospace, monospace; }
  #status.live::before { content: "●"; color: #1f883d; margin-right: 6px; }
  #status.waiting::before { content: "●"; color: #bf8700; margin-right: 6px; }
  #board { position: relative; height: calc(100vh - 58px); overflow: hidden; }
  .note { position: absolute; width: 150px; min-height: 90px; padding: 10px 10px 22px; border-radius: 4px;
          box-shadow: 0 2px 6px rgba(0,0,0,.15); cursor: grab; user-select: none; font-size: 14px; word-wrap: break-word; }
  .note .text { outline: none; cursor: text; }
  .note .remove { position: absolute; right: 6px; top: 2px; border: 0; background: none; cursor: pointer; font-size: 16px; color: rgba(0,0,0,.45); }
  .note .meta { position: absolute; left: 10px; bottom: 4px; font-size: 10px; color: rgba(0,0,0,.45); }
  #empty { position: absolute; inset: 0; display: grid; place-items: center; color: #8c959f; }
  #empty[hidden] { display: none; }
</style>
</head>
<body>
<header>
  <h1>chord-sync live board</h1>
  <input id="new-text" placeholder="Write a note and press Add" maxlength="200">
  <button id="add">Add</button>
  <span id="status" class="waiting">connecting…</span>
</header>
<main id="board"><div id="empty">No notes yet: add one, then open this page in a second window.</div></main>
<script type="module">
  import { ChordClient, unset } from '/lib/client/index.js';

  const CONTEXT_ID = ${JSON.stringify(contextId)};
  const COLORS = ['#fff8c5', '#ddf4ff', '#ffebe9', '#dafbe1', '#fbefff'];
  const board = document.getElementById('board');
  const status = document.getElementById('status');
  const input = document.getElementById('new-text');
  const client = new ChordClient({
    url: '/contexts',
    contextId: CONTEXT_ID,
    onError: () => { status.className = 'waiting'; status.textContent = 'reconnecting…'; },
  });
  window.chordClient = client;

  // Shown at once (client.state); the promise settles once the server confirmed or refused it.
  function writeNote(id, note) {
    client.update({ notes: { [id]: note === null ? unset : note } })
      .catch((error) => console.warn('write refused', error.status, error.serverCode, error.message))
      .finally(() => render(client.state));
  }

  function render(state) {
    if (state === null) {
      status.className = 'waiting';
      status.textContent = 'waiting for the board…';
      return;
    }
    status.className = 'live';
    status.textContent = 'live · version ' + state.version + ' · epoch ' + String(state.epoch ?? '').slice(0, 8) +
      (client.pending > 0 ? ' · ' + client.pending + ' pending' : '');
    const notes = state.context.notes ?? {};
    document.getElementById('empty').hidden = Object.keys(notes).length > 0;
    for (const element of [...board.querySelectorAll('.note')]) {
      if (!(element.dataset.id in notes)) element.remove();
    }
    for (const [id, note] of Object.entries(notes)) {
      let element = board.querySelector('.note[data-id="' + id + '"]');
      if (element === null) {
        element = document.createElement('div');
        element.className = 'note';
        element.dataset.id = id;
        element.innerHTML = '<div class="text" contenteditable="true"></div><button class="remove" title="Remove">×</button><span class="meta"></span>';
        element.querySelector('.remove').addEventListener('click', () => writeNote(id, null));
        const text = element.querySelector('.text');
        text.addEventListener('blur', () => {
          const current = client.state?.context.notes?.[id];
          if (current !== undefined && text.textContent !== current.text) writeNote(id, { ...current, text: text.textContent });
        });
        element.addEventListener('pointerdown', (event) => startDrag(event, id, element));
        board.appendChild(element);
      }
      const text = element.querySelector('.text');
      if (document.activeElement !== text && text.textContent !== note.text) text.textContent = note.text;
      element.querySelector('.meta').textContent = note.by ? 'by ' + note.by : '';
      element.style.left = note.x + 'px';
      element.style.top = note.y + 'px';
      element.style.background = note.color;
    }
  }

  function startDrag(event, id, element) {
    if (event.target.closest('.text, .remove')) return;
    const start = { x: event.clientX, y: event.clientY, left: element.offsetLeft, top: element.offsetTop };
    element.setPointerCapture(event.pointerId);
    const move = (e) => {
      element.style.left = start.left + e.clientX - start.x + 'px';
      element.style.top = start.top + e.clientY - start.y + 'px';
    };
    const drop = () => {
      element.removeEventListener('pointermove', move);
      const current = client.state?.context.notes?.[id];
      if (current !== undefined) writeNote(id, { ...current, x: Math.round(element.offsetLeft), y: Math.round(element.offsetTop) });
    };
    element.addEventListener('pointermove', move);
    element.addEventListener('pointerup', drop, { once: true });
  }

  document.getElementById('add').addEventListener('click', () => {
    const text = input.value.trim() || 'A new note';
    input.value = '';
    const id = Math.random().toString(36).slice(2, 10);
    const count = Object.keys(client.state?.context.notes ?? {}).length;
    const columns = Math.max(1, Math.floor((board.clientWidth - 24) / 180));
    writeNote(id, {
      text,
      x: 24 + (count % columns) * 180,
      y: 24 + Math.floor(count / columns) * 130,
      color: COLORS[count % COLORS.length],
      by: navigator.userAgent.includes('Headless') ? 'a headless window' : 'a window',
    });
  });
  input.addEventListener('keydown', (event) => { if (event.key === 'Enter') document.getElementById('add').click(); });

  client.subscribe(render);
  render(client.state);
</script>
</body>
</html>
`;
}
