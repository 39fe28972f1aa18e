export const REDACTED = "<redacted>";

/**
 * Replaces every occurrence of the given secrets in text, in raw form and in the forms a JSON
 * serializer produces (a token may hold `"` or `\`, which JSON escapes). Works on whole lines,
 * unlike key-based redaction, so a secret inside free text is caught too.
 */
export function scrub(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    for (const form of secretForms(secret)) {
      if (out.includes(form)) out = out.split(form).join(REDACTED);
    }
  }
  return out;
}

function secretForms(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  const twice = JSON.stringify(json).slice(1, -1);
  return [...new Set([secret, json, twice])].sort((a, b) => b.length - a.length);
}
