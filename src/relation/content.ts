import type { Document, Scalar } from "yaml";
import { yaml } from "../yaml.js";
import type { Databag } from "./config.js";
import { RelationError } from "./errors.js";

const HINT =
  'write a flat JSON object or YAML mapping of strings, as `relation-get --app` prints it, e.g. {"remote-store-address":"10.0.0.5:7070","remote-store-insecure":"true"}';

const YAML_OPTIONS = {
  version: "1.2",
  schema: "core",
  uniqueKeys: true,
  prettyErrors: false,
} as const;

function malformed(message: string, cause?: unknown): RelationError {
  return new RelationError("MALFORMED", message, HINT, "", { cause });
}

/**
 * Turns a relation data file into a databag, detecting JSON or YAML by content.
 * Returns `undefined` for an empty file (or one holding only comments/whitespace or `{}`-less
 * null). Parser messages quote the input, so they are kept as `cause` only.
 */
export function parseDatabag(bytes: Uint8Array): Databag | undefined {
  if (bytes.includes(0)) throw malformed("the file holds binary data (NUL bytes)");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch (cause) {
    throw malformed("the file is not valid UTF-8 text", cause);
  }
  if (text.trim() === "") return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return parseYaml(text);
  }
  return fromJson(json);
}

function fromJson(value: unknown): Databag {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw malformed(
      `the file holds JSON ${Array.isArray(value) ? "array" : typeof value}, not an object`,
    );
  }
  const bag = new Map<string, string>();
  for (const [key, v] of Object.entries(value)) {
    if (v === null) bag.set(key, "");
    else if (typeof v === "string") bag.set(key, v);
    else if (typeof v === "number" || typeof v === "boolean") bag.set(key, String(v));
    else throw malformed(`the value of ${JSON.stringify(key)} is not a scalar`);
  }
  return bag;
}

function parseYaml(text: string): Databag | undefined {
  const { isMap, isScalar, parseAllDocuments } = yaml();
  const docs = parseAllDocuments(text, YAML_OPTIONS);
  if (!Array.isArray(docs) || docs.length === 0) return undefined;
  if (docs.length > 1) throw malformed("the file holds more than one YAML document");
  const doc = docs[0] as Document;
  const [error] = doc.errors;
  if (error) {
    const at = error.linePos?.[0];
    const where = at ? ` at line ${at.line}, column ${at.col}` : "";
    throw malformed(`the file is neither JSON nor valid YAML (${error.code}${where})`, error);
  }
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) return undefined;
  if (!isMap(root)) throw malformed("the file holds a YAML value that is not a mapping");
  const bag = new Map<string, string>();
  for (const item of root.items) {
    const key = isScalar(item.key) ? item.key.value : undefined;
    if (typeof key !== "string" && typeof key !== "number") {
      throw malformed("the mapping has a key that is not a plain string");
    }
    if (item.value !== null && !isScalar(item.value)) {
      throw malformed(`the value of ${JSON.stringify(String(key))} is not a scalar`);
    }
    bag.set(String(key), scalarText(item.value));
  }
  return bag;
}

/** The text of a scalar as written: `0x1F` stays `0x1F`, `true` stays `true`, null is empty. */
function scalarText(node: Scalar | null): string {
  if (node === null || node.value === null || node.value === undefined) return "";
  if (typeof node.value === "string") return node.value;
  if (node.type === "PLAIN" && typeof node.source === "string") return node.source;
  return String(node.value);
}
