// copyText copies text to the clipboard for a Copy button, and says on
// the button what happened. navigator.clipboard exists only in secure
// contexts (HTTPS or localhost): on a plain-HTTP LAN address it is
// undefined, so the text (shown in the element from) is selected instead
// and copied with the older execCommand where the browser still has it,
// else left selected for the user to copy.
export async function copyText(text: string, button: HTMLElement, from?: HTMLElement): Promise<void> {
  const label = button.dataset.label ?? button.textContent ?? 'Copy';
  button.dataset.label = label;
  let said = '';
  try {
    if (!navigator.clipboard?.writeText) throw new Error('no clipboard');
    await navigator.clipboard.writeText(text);
    said = 'Copied';
  } catch {
    said = selectAndCopy(text, from) ? 'Copied' : `Selected: press ${/Mac|iPhone|iPad/.test(navigator.platform) ? '⌘' : 'Ctrl+'}C`;
  }
  button.textContent = said;
  window.setTimeout(() => { if (button.textContent === said) button.textContent = label; }, 4000);
}

// selectAndCopy selects the text (the element's, or a hidden text area's
// when there is no element) and asks the browser to copy the selection.
function selectAndCopy(text: string, from?: HTMLElement): boolean {
  const sel = window.getSelection();
  let area: HTMLTextAreaElement | null = null;
  if (from instanceof HTMLInputElement || from instanceof HTMLTextAreaElement) {
    from.select(); // a form field selects its value, not its child nodes
  } else if (from && sel) {
    const r = document.createRange();
    r.selectNodeContents(from);
    sel.removeAllRanges();
    sel.addRange(r);
  } else {
    area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.append(area);
    area.select();
  }
  let ok = false;
  try { ok = document.execCommand?.('copy') ?? false; } catch { ok = false; }
  area?.remove();
  return ok;
}
