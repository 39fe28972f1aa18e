#!/usr/bin/env node
// A walk through what the sidecar does with relation data, on loopback and in a temp dir.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "parca-agent-sidecar-demo-"));
const relation = join(dir, "parca-store.json");

function render(...extra) {
  try {
    return {
      code: 0,
      out: execFileSync(process.execPath, [
        cli,
        "render",
        "--relation",
        relation,
        ...extra,
      ]).toString(),
    };
  } catch (err) {
    return { code: err.status, out: String(err.stdout) };
  }
}

function step(title, content, ...extra) {
  writeFileSync(relation, content);
  const { code, out } = render(...extra, "--", "--node=demo-node");
  const result = JSON.parse(out);
  console.log(`\n▶ ${title}`);
  const shown = content.replace(/("remote-store-bearer-token":")[^"]*"/, '$1<token>"');
  console.log(`  relation data: ${shown.trim() || "(empty)"}`);
  if (result.error) {
    console.log(`  refused (exit ${code}): ${result.error.code}: ${result.error.message}`);
    console.log(`  hint: ${result.error.hint}`);
  } else if (!result.configured) {
    console.log(`  not configured: ${result.reason}`);
  } else {
    console.log(`  agent argv: ${result.argv.join(" ")}`);
  }
  return { code, result };
}

try {
  const steps = [
    step(
      "The store app has related but written nothing yet",
      '{"remote-store-address":"","remote-store-insecure":""}',
    ),
    step(
      "A plaintext store in the same model",
      '{"remote-store-address":"10.0.0.5:7070","remote-store-insecure":"true"}',
    ),
    step(
      "A TLS store behind an ingress, with a bearer token (redacted in every output)",
      '{"remote-store-address":"parca.example.com:443","remote-store-insecure":"false","remote-store-bearer-token":"s3cr3t"}',
    ),
    step(
      "The same, with the token in a 0600 file instead of on the command line",
      '{"remote-store-address":"parca.example.com:443","remote-store-insecure":"false","remote-store-bearer-token":"s3cr3t"}',
      "--token-mode",
      "file",
      "--state-dir",
      join(dir, "state"),
    ),
    step(
      "A typo: a URL instead of host:port",
      '{"remote-store-address":"https://parca.example.com"}',
    ),
  ];
  const leaked = steps.some((s) => JSON.stringify(s.result).includes("s3cr3t"));
  const codes = steps.map((s) => s.code).join(",");
  if (leaked || codes !== "0,0,0,0,2") {
    console.error(`\ndemo failed: exit codes ${codes}${leaked ? ", token leaked" : ""}`);
    process.exitCode = 1;
  } else {
    console.log(
      "\n✔ demo done: every config rendered or refused with its reason; no token printed.",
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
