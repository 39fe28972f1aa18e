export const REDACTED = "<redacted>";

/**
 * Tokens this long or longer are scrubbed wherever they appear; a shorter one (accepted with a
 * WEAK_TOKEN warning) only where it stands as a value of its own, since scrubbing a token of a
 * few characters from inside words would garble every message ("false" for a token "e").
 */
export const STRONG_TOKEN_LENGTH = 8;

/** Characters a token-like word is made of: next to one, a short token is part of a word. */
const WORD = "A-Za-z0-9_~-";

const escapeRegExp = (text: string) => text.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");

/**
 * Replaces the given secrets in text, in raw form and in the forms a JSON serializer produces
 * (a token may hold `"` or `\`, which JSON escapes). Works on free text, unlike key-based
 * redaction, so a secret inside a message is caught too.
 */
export function scrub(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    for (const form of secretForms(secret)) {
      if (!out.includes(form)) continue;
      if (secret.length >= STRONG_TOKEN_LENGTH) {
        out = out.split(form).join(REDACTED);
      } else {
        const standing = new RegExp(`(?<![${WORD}])${escapeRegExp(form)}(?![${WORD}])`, "g");
        out = out.replace(standing, REDACTED);
      }
    }
  }
  return out;
}

function secretForms(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  const twice = JSON.stringify(json).slice(1, -1);
  return [...new Set([secret, json, twice])].sort((a, b) => b.length - a.length);
}
