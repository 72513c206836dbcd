// The color theme: the system's (prefers-color-scheme), or light or dark
// as picked in the header (remembered in localStorage). The CSS reads
// data-theme on <html>.
const KEY = 'eddy.theme';

export function setupTheme(select: HTMLSelectElement): void {
  let saved = '';
  try { saved = localStorage.getItem(KEY) ?? ''; } catch { /* storage disabled */ }
  const apply = (t: string) => {
    if (t === 'light' || t === 'dark') document.documentElement.dataset.theme = t;
    else delete document.documentElement.dataset.theme;
  };
  apply(saved);
  select.value = saved === 'light' || saved === 'dark' ? saved : '';
  select.onchange = () => {
    apply(select.value);
    try { localStorage.setItem(KEY, select.value); } catch { /* storage disabled */ }
  };
}
