// The page's routes (location.hash):
//   #/                the camera wall (grid or list of every stream)
//   #/stream/NAME     a stream's view (live, archive, events)
//   #/publish         publish this browser's camera (WHIP)
//   #/streams/new     create a stream
//   #/manage/NAME     a stream's management page
//   #/status          the server's status (eddy:admin)
// NAME is URI-encoded; a query after "?" (e.g. ?created) is page state.
export type Page = 'wall' | 'stream' | 'publish' | 'new' | 'manage' | 'status';
export interface Route { page: Page; name: string; query: URLSearchParams }

export function parseRoute(hash: string): Route {
  const h = hash.replace(/^#/, '');
  const q = h.indexOf('?');
  const path = q < 0 ? h : h.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : h.slice(q + 1));
  const dec = (s: string) => { try { return decodeURIComponent(s); } catch { return s; } };
  let m: RegExpMatchArray | null;
  if ((m = path.match(/^\/stream\/(.+)$/))) return { page: 'stream', name: dec(m[1]), query };
  if ((m = path.match(/^\/manage\/(.+)$/))) return { page: 'manage', name: dec(m[1]), query };
  if (path === '/streams/new') return { page: 'new', name: '', query };
  if (path === '/publish') return { page: 'publish', name: '', query };
  if (path === '/status') return { page: 'status', name: '', query };
  return { page: 'wall', name: '', query };
}

export const streamHref = (name: string) => '#/stream/' + encodeURIComponent(name);
export const manageHref = (name: string) => '#/manage/' + encodeURIComponent(name);
