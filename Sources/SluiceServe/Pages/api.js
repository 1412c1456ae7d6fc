// The JSON API (docs/api.md): every page reads through here.

export class APIError extends Error {
  constructor(status, message, problems) {
    super(message);
    this.status = status;
    this.problems = problems ?? [];
  }
}

async function parse(response) {
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  if (!response.ok) {
    const message = body && typeof body.error === 'string' ? body.error : `${response.status} ${response.statusText}`;
    throw new APIError(response.status, message, body && Array.isArray(body.problems) ? body.problems : []);
  }
  return body ?? {};
}

export async function get(path, signal) {
  const response = await fetch(path, {headers: {Accept: 'application/json'}, signal, cache: 'no-store'});
  return parse(response);
}

/// GET that answers null on 404 (an endpoint this pipeline or mode does not have).
export async function getOptional(path, signal) {
  try { return await get(path, signal); } catch (e) {
    if (e instanceof APIError && e.status === 404) return null;
    throw e;
  }
}

let csrf = null;
async function csrfToken(refresh) {
  if (!csrf || refresh) csrf = (await get('/api/v1/session')).csrfToken;
  return csrf;
}

/// POST JSON with the CSRF header; a 403 fetches a new token once (the host restarted).
export async function post(path, body) {
  for (const refresh of [false, true]) {
    const token = await csrfToken(refresh);
    const response = await fetch(path, {
      method: 'POST', cache: 'no-store',
      headers: {'Content-Type': 'application/json', Accept: 'application/json', 'X-Sluice-CSRF': token ?? ''},
      body: JSON.stringify(body ?? {}),
    });
    if (response.status === 403 && !refresh) continue;
    return parse(response);
  }
}

export const pipelinePath = (id, rest = '') => `/api/v1/pipelines/${encodeURIComponent(id)}${rest}`;
