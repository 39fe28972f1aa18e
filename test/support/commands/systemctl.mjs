#!/usr/bin/env node
// Stand-in `systemctl` for the external-mode tests: one unit, whose main process is the stand-in
// agent started with the argv in $STANDIN_UNIT_FLAGS (one element a line, as --flags-format
// args writes it), plus $STANDIN_UNIT_EXTRA (flags a unit's ExecStart adds by itself).
//   systemctl restart NAME                        stop the unit's agent group, start a new one
//   systemctl show --property=MainPID --value NAME  its pid, or 0
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const [verb, ...rest] = process.argv.slice(2);
const name = rest.at(-1);
const pidfile = join(process.env.STANDIN_UNITS ?? "/nonexistent", `${name}.pid`);
const pid = () => (existsSync(pidfile) ? Number(readFileSync(pidfile, "utf8").trim()) : 0);

function alive(p) {
  try {
    process.kill(p, 0);
    return true;
  } catch {
    return false;
  }
}

if (verb === "show") {
  console.log(alive(pid()) ? pid() : 0);
} else if (verb === "restart") {
  const old = pid();
  if (old > 1 && alive(old)) {
    process.kill(-old, "SIGTERM");
    for (let i = 0; i < 200 && alive(old); i++) await new Promise((r) => setTimeout(r, 10));
  }
  const flags = readFileSync(process.env.STANDIN_UNIT_FLAGS, "utf8").split("\n").filter(Boolean);
  const extra = (process.env.STANDIN_UNIT_EXTRA ?? "").split(" ").filter(Boolean);
  const agent = fileURLToPath(new URL("../agents/standin.mjs", import.meta.url));
  const child = spawn(process.execPath, [agent, ...flags, ...extra], {
    detached: true,
    stdio: "ignore",
  });
  writeFileSync(pidfile, `${child.pid}\n`);
  child.unref();
} else {
  console.error(`systemctl stand-in: ${verb} is not known`);
  process.exit(1);
}
