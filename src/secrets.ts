// Every secret the sidecar knows, and every way one is kept out of what it shows: scrubbed from
// free text and JSON values (logs, messages, status), and redacted from an argv shown.
import { FLAG_HEADERS, FLAG_TOKEN } from "./flag-names.js";

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

/**
 * The secrets output must never show. Tokens come and go as the relation changes; one rotated
 * out stays here, so a late line that still holds it is scrubbed too.
 */
export class Secrets {
  private readonly values = new Set<string>();

  add(value: string | undefined): void {
    if (value) this.values.add(value);
  }

  get size(): number {
    return this.values.size;
  }

  scrub(text: string): string {
    return this.values.size === 0 ? text : scrub(text, this.values);
  }
}

const STRUCTURAL = new Set(["event", "component"]);

/** A JSON value with secrets scrubbed from its strings, never from its structure. */
export function scrubValues(value: unknown, secrets: Secrets): unknown {
  if (typeof value === "string") return secrets.scrub(value);
  if (Array.isArray(value)) return value.map((v) => scrubValues(v, secrets));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, STRUCTURAL.has(k) ? v : scrubValues(v, secrets)]),
    );
  }
  return value;
}

const SECRET_HEADER = /authorization|token|secret|password|api[-_]?key/i;

/** The argv as it may be shown: token values (and secret-looking header values) replaced. */
export function redactArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === FLAG_TOKEN || arg === FLAG_HEADERS) {
      out.push(arg);
      if (i + 1 < argv.length) out.push(redactValue(arg, argv[++i] as string));
    } else if (arg.startsWith(`${FLAG_TOKEN}=`) || arg.startsWith(`${FLAG_HEADERS}=`)) {
      const eq = arg.indexOf("=");
      out.push(`${arg.slice(0, eq)}=${redactValue(arg.slice(0, eq), arg.slice(eq + 1))}`);
    } else {
      out.push(arg);
    }
  }
  return out;
}

function redactValue(flag: string, value: string): string {
  if (flag === FLAG_TOKEN) return REDACTED;
  // Header values (key=value pairs) may carry credentials: hide the whole map if any key looks so.
  return SECRET_HEADER.test(value) ? REDACTED : value;
}
