/**
 * Redaction of memory URLs, so a password never reaches a log line, an error message or a probe
 * report. Kept apart from the registry because every backend needs it for its `url`.
 */

// Query parameters that carry credentials in common driver URLs (postgres `?password=`, tokens).
const SECRET_PARAMS = /([?&](?:password|passwd|pwd|secret|token|api_?key)=)[^&#]*/gi;

/**
 * Returns `url` with the password of its user-info (`user:password@`) and any credential-looking
 * query parameter (`password`, `passwd`, `pwd`, `secret`, `token`, `apikey`, `api_key`) replaced by
 * `***`. Works on the text, so it also redacts URLs the WHATWG parser rejects and otherwise keeps
 * the URL exactly as written.
 */
export function redactUrl(url: string): string {
  let out = url;
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)/i.exec(out);
  if (match !== null) {
    const prefix = match[1] ?? '';
    const authority = match[2] ?? '';
    // The user-info ends at the last '@' of the authority (passwords may contain a raw '@').
    const at = authority.lastIndexOf('@');
    const colon = at < 0 ? -1 : authority.indexOf(':');
    if (colon >= 0 && colon < at) {
      out = `${prefix}${authority.slice(0, colon + 1)}***${authority.slice(at)}${out.slice(match[0].length)}`;
    }
  }
  return out.replace(SECRET_PARAMS, '$1***');
}
