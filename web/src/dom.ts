// Writes that change the page only where a figure changed: the pages that
// refresh on a timer (the camera wall, the status page) update their
// elements in place with these, so a refresh that brings the same figures
// leaves the page untouched and never moves a keyboard user's focus.

// setText sets e's text and title (none when undefined), each only if it differs.
export function setText(e: HTMLElement, text: string, title?: string): void {
  if (e.textContent !== text) e.textContent = text;
  setAttr(e, 'title', title);
}

// setAttr sets (or, when undefined, removes) an attribute only if it differs.
export function setAttr(e: HTMLElement, name: string, value: string | undefined): void {
  if (value === undefined) {
    if (e.hasAttribute(name)) e.removeAttribute(name);
  } else if (e.getAttribute(name) !== value) {
    e.setAttribute(name, value);
  }
}
