#!/usr/bin/env node
// The bench's baseline: an inotifywait-style restart loop with no check. It watches the relation
// file's directory and, QUIET_MS after the last event (0: at once), re-reads the address and
// restarts the agent with it.
// usage: restart-loop.mjs RELATION_FILE AGENT [QUIET_MS]
import { spawn } from "node:child_process";
import { readFileSync, watch } from "node:fs";
import { basename, dirname } from "node:path";

const [relation, agent, quiet = "0"] = process.argv.slice(2);
const quietMs = Number(quiet);
let timer;
let child;
let last = "";

function restart() {
  let address;
  try {
    address = JSON.parse(readFileSync(relation, "utf8"))["remote-store-address"];
  } catch {
    return;
  }
  if (!address || address === last) return;
  last = address;
  if (child) process.kill(-child.pid, "SIGTERM");
  child = spawn(agent, [`--remote-store-address=${address}`, "--remote-store-insecure=true"], {
    detached: true,
    stdio: "ignore",
  });
}

watch(dirname(relation), (_event, name) => {
  if (name !== basename(relation)) return;
  if (quietMs === 0) return restart();
  clearTimeout(timer);
  timer = setTimeout(restart, quietMs);
});
restart();
process.stdout.write("ready\n");
process.on("SIGTERM", () => {
  if (child) process.kill(-child.pid, "SIGTERM");
  process.exit(0);
});
