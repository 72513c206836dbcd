// The page's login: whether the server wants one (credentials are
// configured), who is logged in, and the bearer tokens the page gets with
// its session cookie for its WHEP and WHIP requests. The cookie itself is
// HttpOnly: scripts never see it.
import { WebRTCError } from './webrtc';

export const session = {
  auth: false, // the server has credentials: a login is needed
  identity: '', // the access key id logged in ('' when none)
  expires: '',
  canPublish: true,
  // canCreate: may create streams (kinesisvideo:CreateStream on "*");
  // admin: may see the status page (eddy:admin). A server without these
  // fields: true when it needs no login.
  canCreate: true,
  admin: true,
  // onUnauthorized is called when a request finds the session gone.
  onUnauthorized: () => {},
};

export interface SessionInfo { auth: boolean; identity?: string; expires?: string; canPublish: boolean; canCreate?: boolean; admin?: boolean }

export function setSession(s: SessionInfo): void {
  session.auth = s.auth;
  session.identity = s.identity ?? '';
  session.expires = s.expires ?? '';
  session.canPublish = s.canPublish;
  session.canCreate = s.canCreate ?? !s.auth;
  session.admin = s.admin ?? !s.auth;
}

// webrtcToken returns a token for action on stream ('' when the server
// checks none), asked for right before each WHEP or WHIP POST.
export async function webrtcToken(stream: string, action: 'webrtc:read' | 'webrtc:publish'): Promise<string> {
  if (!session.auth) return '';
  const res = await fetch('/api/v1/ui/tokens', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ stream, actions: [action] }),
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    if (res.status === 401) session.onUnauthorized();
    throw new WebRTCError(res.status, `${res.status} ${body?.error?.message ?? res.statusText}`);
  }
  return body.token as string;
}
