// Stream management: the new-stream page (#/streams/new) and a stream's
// management page (#/manage/NAME): its publish URLs (RTSP, RTSPS, WHIP,
// PutMedia) and an ffmpeg command to copy, its pull source, retention and
// size cap changes, and its deletion. Every change is a Kinesis Video
// control-plane call made with the session (kvs), so the same permissions
// as an SDK's apply; a refusal is shown as the API's own sentence.
import { el, errorText, fmtBytes, fmtRetention, getEndpoints, getJSON, kvs, publishLines, storedText } from './api';
import { copyText } from './copy';
import { session } from './session';
import { streamStateOf } from './review';
import { wallNotice, type WallStream } from './wall';

// MAX_BYTES_TAG holds a stream's size cap (decimal bytes).
export const MAX_BYTES_TAG = 'eddy:max-bytes';
const NAME_PATTERN = '[a-zA-Z0-9_.\\-]+';

interface StreamDescription {
  StreamName: string; StreamARN: string; Version: string; Status: string; MediaType?: string;
  DataRetentionInHours: number; CreationTime?: number | string;
}

export interface ManageOptions {
  // stream is the stream list's row of name (undefined when not listed).
  stream: (name: string) => WallStream | undefined;
  // changed is called after a create, change or delete (reload the list).
  changed: () => void;
  href: (name: string) => string;
}

// hoursOf reads a number and a unit select (h or d) as hours.
function hoursOf(n: HTMLInputElement, unit: HTMLSelectElement): number {
  const v = Number(n.value);
  return Math.round(unit.value === 'd' ? v * 24 : v);
}
const BYTE_UNITS: [string, number][] = [['MB', 1e6], ['GB', 1e9], ['TB', 1e12]];
function bytesOf(n: HTMLInputElement, unit: HTMLSelectElement): number {
  return Math.round(Number(n.value) * (BYTE_UNITS.find(([u]) => u === unit.value)?.[1] ?? 1));
}

function unitSelect(id: string, label: string, units: string[][]): HTMLSelectElement {
  return el('select', { id, 'aria-label': label }, ...units.map(([v, t]) => el('option', { value: v, text: t })));
}

function message(p: HTMLElement, text: string, kind: 'ok' | 'error' | '' = ''): void {
  p.textContent = text;
  p.className = 'msg' + (kind ? ' ' + kind : '');
}

function copyRow(label: string, id: string, value: string, prefix: string): HTMLElement {
  const input = el('input', { id: `${prefix}copy-${id}`, readonly: true, value, spellcheck: 'false' });
  input.value = value;
  const btn = el('button', { type: 'button', 'aria-label': `Copy the ${label} ${id === 'ffmpeg' || id === 'putmedia' ? 'command' : 'URL'}`, text: 'Copy' });
  btn.onclick = () => void copyText(value, btn, input);
  return el('div', { class: 'copy-row' }, el('label', { for: input.id, text: label }), input, btn);
}

// publishPanel shows how to publish to name: on its management page, and
// in the stream view while nothing has been published. Its ids start with
// prefix, so that both can be in the document at once.
export function publishPanel(name: string, prefix = ''): HTMLElement {
  const box = el('div', {}, el('p', { class: 'muted', text: 'Loading the server’s addresses…' }));
  const panel = el('section', { class: 'panel', 'aria-labelledby': `${prefix}publish-urls-h` },
    el('h3', { id: `${prefix}publish-urls-h`, text: 'Publish to this stream' }), box);
  getEndpoints().then((ep) => {
    box.replaceChildren(
      el('p', { class: 'muted', text: 'Point a camera or encoder at one of these (FILE is your video file).' + (ep.auth ? ' The server checks credentials: RTSP takes them in the URL (rtsp://KEY:SECRET@…), WHIP a bearer token, PutMedia SigV4.' : '') }),
      ...publishLines(ep, name).map((r) => copyRow(r.label, r.id, r.value, prefix)));
  }, (e) => { box.replaceChildren(el('p', { class: 'error', text: 'Cannot get the server’s addresses: ' + errorText(e) })); });
  return panel;
}

// ---- #/streams/new

export function showNewStream(root: HTMLElement, opts: ManageOptions): void {
  if (!session.canCreate) {
    root.replaceChildren(el('h2', { id: 'new-h', text: 'New stream' }),
      el('p', { text: `${session.identity || 'This session'} may not create streams (kinesisvideo:CreateStream).` }));
    return;
  }
  const name = el('input', { id: 'new-name', name: 'name', required: true, maxlength: '256', pattern: NAME_PATTERN, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'new-name-hint' });
  const ret = el('input', { id: 'new-retention', type: 'number', min: '0', step: '1', value: '1', required: true, 'aria-describedby': 'new-retention-hint' });
  const retUnit = unitSelect('new-retention-unit', 'Retention unit', [['d', 'days'], ['h', 'hours']]);
  const cap = el('input', { id: 'new-cap', type: 'number', min: '0', step: 'any', 'aria-describedby': 'new-cap-hint' });
  const capUnit = unitSelect('new-cap-unit', 'Size cap unit', BYTE_UNITS.map(([u]) => [u, u]));
  capUnit.value = 'GB';
  const status = el('p', { id: 'new-status', class: 'msg', role: 'status', 'aria-live': 'polite' });
  const submit = el('button', { type: 'submit', class: 'primary', text: 'Create stream' });
  const form = el('form', { class: 'form-grid', id: 'new-form' },
    el('label', { for: 'new-name', text: 'Name' }), name,
    el('p', { class: 'hint', id: 'new-name-hint', text: '1–256 characters: letters, digits, _ . -' }),
    el('label', { for: 'new-retention', text: 'Retention' }), el('div', { class: 'with-unit' }, ret, retUnit),
    el('p', { class: 'hint', id: 'new-retention-hint', text: 'How long recordings are kept; 0 keeps none.' }),
    el('label', { for: 'new-cap', text: 'Size cap' }), el('div', { class: 'with-unit' }, cap, capUnit),
    el('p', { class: 'hint', id: 'new-cap-hint', text: 'Optional: the oldest recordings go once the stream stores more.' }),
    el('div', { class: 'actions' }, submit, el('a', { class: 'button', href: '#/', text: 'Cancel' })),
  );
  form.onsubmit = async (e) => {
    e.preventDefault();
    const body: any = { StreamName: name.value.trim(), DataRetentionInHours: hoursOf(ret, retUnit) };
    if (cap.value !== '' && Number(cap.value) > 0) body.Tags = { [MAX_BYTES_TAG]: String(bytesOf(cap, capUnit)) };
    submit.disabled = true;
    message(status, 'Creating…');
    try {
      await kvs('CreateStream', body);
      opts.changed();
      location.hash = '#/manage/' + encodeURIComponent(body.StreamName) + '?created';
    } catch (err) {
      message(status, 'Cannot create the stream: ' + errorText(err), 'error');
    } finally {
      submit.disabled = false;
    }
  };
  root.replaceChildren(el('h2', { id: 'new-h', text: 'New stream' }), form, status);
  name.focus();
}

// ---- #/manage/NAME

let manageGen = 0;

export async function showManage(root: HTMLElement, name: string, opts: ManageOptions, created = false): Promise<void> {
  const gen = ++manageGen;
  const status = el('p', { id: 'manage-status', class: 'msg', role: 'status', 'aria-live': 'polite' });
  const head = el('div', { class: 'wall-head' },
    el('h2', { id: 'manage-h', title: name, class: 'page-title', text: `Manage ${name}` }),
    el('a', { class: 'button', href: opts.href(name), text: 'Open stream' }));
  root.replaceChildren(head, status);
  if (created) message(status, `Created ${name}.`, 'ok');
  let desc: StreamDescription;
  try {
    desc = (await kvs<{ StreamInfo: StreamDescription }>('DescribeStream', { StreamName: name })).StreamInfo;
  } catch (e) {
    if (gen !== manageGen) return;
    message(status, 'Cannot describe the stream: ' + errorText(e), 'error');
    return;
  }
  if (gen !== manageGen) return;
  let tags: Record<string, string> = {};
  let tagsError = '';
  try {
    tags = (await kvs<{ Tags?: Record<string, string> }>('ListTagsForStream', { StreamName: name })).Tags ?? {};
  } catch (e) {
    tagsError = errorText(e);
  }
  if (gen !== manageGen) return;
  // The stream list's row (state, stored bytes, pull source); a page
  // opened directly may come before the list's first load.
  const row = opts.stream(name) ?? (await getJSON<WallStream[]>('/api/v1/streams').catch(() => [] as WallStream[])).find((s) => s.name === name);
  if (gen !== manageGen) return;

  const facts = el('dl', { class: 'kv' });
  const fact = (k: string, v: string) => { const dd = el('dd', { text: v }); facts.append(el('dt', { text: k }), dd); return dd; };
  fact('Status', desc.Status);
  fact('State', row ? streamStateOf(row) : '—');
  // A change is shown in place (the page is not rebuilt: the focused
  // button stays, and the section's own message says what changed).
  const retFact = fact('Retention', fmtRetention(desc.DataRetentionInHours));
  const capFact = fact('Size cap', tags[MAX_BYTES_TAG] ? fmtBytes(Number(tags[MAX_BYTES_TAG])) : tagsError ? 'unknown' : 'none');
  if (row) fact('Stored', storedText(row));
  if (desc.MediaType) fact('Media type', desc.MediaType);
  fact('ARN', desc.StreamARN);
  const about = el('section', { class: 'panel', 'aria-labelledby': 'about-h' }, el('h3', { id: 'about-h', text: 'Stream' }), facts);

  const sections: HTMLElement[] = [about, publishPanel(name)];
  if (row?.source) {
    const src = row.source;
    const sf = el('dl', { class: 'kv' });
    sf.append(el('dt', { text: 'URL' }), el('dd', { text: src.url }), el('dt', { text: 'State' }), el('dd', { text: src.state }));
    if (src.lastError) {
      sf.append(el('dt', { text: 'Last error' }), el('dd', { class: 'source-error', text: src.lastError + (src.lastErrorAt ? ` (${new Date(src.lastErrorAt).toLocaleString()})` : '') }));
    }
    sections.push(el('section', { class: 'panel', 'aria-labelledby': 'source-h' }, el('h3', { id: 'source-h', text: 'Pull source' }), sf));
  }

  // reread describes the stream again after a change: a change gives it a
  // new version, which the next change (or the delete) is made against.
  const reread = async (msg: HTMLElement, done: string) => {
    try {
      desc = (await kvs<{ StreamInfo: StreamDescription }>('DescribeStream', { StreamName: name })).StreamInfo;
      message(msg, done, 'ok');
    } catch (err) {
      message(msg, `${done} The stream cannot be read back: ${errorText(err)}`, 'error');
    }
  };

  // Retention: UpdateDataRetention changes it by a difference, against the
  // version just described (a concurrent change is refused, not lost).
  const ret = el('input', { id: 'ret-value', type: 'number', min: '0', step: '1', required: true });
  const retUnit = unitSelect('ret-unit', 'Retention unit', [['h', 'hours'], ['d', 'days']]);
  const h = desc.DataRetentionInHours;
  if (h && h % 24 === 0) { ret.value = String(h / 24); retUnit.value = 'd'; } else ret.value = String(h);
  const retMsg = el('p', { class: 'msg', id: 'ret-status', role: 'status', 'aria-live': 'polite' });
  const retForm = el('form', { class: 'form-grid', id: 'ret-form' },
    el('label', { for: 'ret-value', text: 'Keep recordings for' }), el('div', { class: 'with-unit' }, ret, retUnit),
    el('div', { class: 'actions' }, el('button', { type: 'submit', text: 'Change retention' })));
  retForm.onsubmit = async (e) => {
    e.preventDefault();
    const want = hoursOf(ret, retUnit);
    const change = want - desc.DataRetentionInHours;
    if (change === 0) { message(retMsg, `Retention is already ${fmtRetention(want)}.`); return; }
    message(retMsg, 'Changing…');
    try {
      await kvs('UpdateDataRetention', {
        StreamName: name, CurrentVersion: desc.Version,
        Operation: change > 0 ? 'INCREASE_DATA_RETENTION' : 'DECREASE_DATA_RETENTION', DataRetentionChangeInHours: Math.abs(change),
      });
      opts.changed();
      retFact.textContent = fmtRetention(want);
      await reread(retMsg, `Retention is now ${fmtRetention(want)}.`);
    } catch (err) {
      message(retMsg, 'Cannot change the retention: ' + errorText(err), 'error');
    }
  };
  sections.push(el('section', { class: 'panel', 'aria-labelledby': 'ret-h' }, el('h3', { id: 'ret-h', text: 'Retention' }), retForm, retMsg));

  // Size cap: the eddy:max-bytes tag (TagStream; UntagStream removes it).
  const cap = el('input', { id: 'cap-value', type: 'number', min: '0', step: 'any', 'aria-describedby': 'cap-hint' });
  const capUnit = unitSelect('cap-unit', 'Size cap unit', BYTE_UNITS.map(([u]) => [u, u]));
  capUnit.value = 'GB';
  const cur = Number(tags[MAX_BYTES_TAG] ?? 0);
  if (cur > 0) {
    const [u, f] = [...BYTE_UNITS].reverse().find(([, f]) => cur >= f) ?? BYTE_UNITS[0];
    capUnit.value = u;
    cap.value = String(+(cur / f).toFixed(3));
  }
  const capMsg = el('p', { class: 'msg', id: 'cap-status', role: 'status', 'aria-live': 'polite' });
  const capForm = el('form', { class: 'form-grid', id: 'cap-form' },
    el('label', { for: 'cap-value', text: 'Size cap' }), el('div', { class: 'with-unit' }, cap, capUnit),
    el('p', { class: 'hint', id: 'cap-hint', text: 'Empty or 0: no cap.' }),
    el('div', { class: 'actions' }, el('button', { type: 'submit', text: 'Change size cap' })));
  capForm.onsubmit = async (e) => {
    e.preventDefault();
    const bytes = cap.value === '' ? 0 : bytesOf(cap, capUnit);
    message(capMsg, 'Changing…');
    try {
      if (bytes > 0) await kvs('TagStream', { StreamName: name, Tags: { [MAX_BYTES_TAG]: String(bytes) } });
      else await kvs('UntagStream', { StreamName: name, TagKeyList: [MAX_BYTES_TAG] });
      opts.changed();
      capFact.textContent = bytes > 0 ? fmtBytes(bytes) : 'none';
      await reread(capMsg, bytes > 0 ? `Size cap is now ${fmtBytes(bytes)}.` : 'No size cap.');
    } catch (err) {
      message(capMsg, 'Cannot change the size cap: ' + errorText(err), 'error');
    }
  };
  sections.push(el('section', { class: 'panel', 'aria-labelledby': 'cap-h' }, el('h3', { id: 'cap-h', text: 'Size cap' }), capForm, capMsg));

  // Delete, confirmed by typing the name.
  const open = el('button', { type: 'button', class: 'danger', id: 'btn-delete', text: 'Delete stream…' });
  const typed = el('input', { id: 'delete-confirm', autocomplete: 'off', spellcheck: 'false' });
  const confirm = el('button', { type: 'submit', class: 'danger', id: 'delete-ok', disabled: true, text: 'Delete' });
  const cancel = el('button', { type: 'button', text: 'Cancel' });
  const dlgMsg = el('p', { class: 'msg', role: 'status', 'aria-live': 'polite' });
  const dialog = el('dialog', { id: 'delete-dialog', 'aria-labelledby': 'delete-dialog-h' },
    el('form', { method: 'dialog' },
      el('h3', { id: 'delete-dialog-h', text: `Delete ${name}?` }),
      el('p', { text: 'Its recordings and events are deleted too; this cannot be undone.' }),
      el('label', { for: 'delete-confirm', text: `Type the stream's name (${name}) to confirm` }), typed,
      dlgMsg, el('div', { class: 'actions' }, cancel, confirm)));
  typed.oninput = () => { confirm.disabled = typed.value !== name; };
  cancel.onclick = () => dialog.close();
  open.onclick = () => { typed.value = ''; confirm.disabled = true; message(dlgMsg, ''); dialog.showModal(); typed.focus(); };
  (dialog.firstChild as HTMLFormElement).onsubmit = async (e) => {
    e.preventDefault();
    if (typed.value !== name) return;
    confirm.disabled = true;
    message(dlgMsg, 'Deleting…');
    try {
      await kvs('DeleteStream', { StreamARN: desc.StreamARN, CurrentVersion: desc.Version });
      dialog.close();
      opts.changed();
      // The wall says what happened (and takes the focus the dialog had).
      wallNotice(`Deleted ${name}.`);
      location.hash = '#/';
    } catch (err) {
      message(dlgMsg, 'Cannot delete the stream: ' + errorText(err), 'error');
      confirm.disabled = false;
    }
  };
  sections.push(el('section', { class: 'panel danger-zone', 'aria-labelledby': 'delete-h' },
    el('h3', { id: 'delete-h', text: 'Delete' }), open, dialog));

  root.replaceChildren(head, status, ...sections);
}
