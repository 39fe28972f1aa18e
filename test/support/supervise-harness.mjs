#!/usr/bin/env node
// A minimal sidecar for tests that kill it: supervises the stand-in agent on a state dir, after
// stopping whatever a killed predecessor left behind. Built code (dist/) only.
// usage: supervise-harness.mjs STATE_DIR AGENT [agent args…]
import { realpathSync } from "node:fs";
import { Supervisor } from "../../dist/agent/supervisor.js";
import { createLogger } from "../../dist/log.js";
import { Secrets } from "../../dist/secrets.js";

const [stateDir, agent, ...argv] = process.argv.slice(2);
const log = createLogger({
  level: "info",
  format: "json",
  secrets: new Secrets(),
  destination: process.stderr,
});
const supervisor = new Supervisor({
  agentPath: agent,
  stateDir: realpathSync(stateDir),
  stopTimeoutMs: 5000,
  env: process.env,
  log,
  secrets: new Secrets(),
  output: () => undefined,
});
const reaped = await supervisor.reapPredecessors();
await supervisor.apply({ store: { address: "127.0.0.1:1", insecure: true }, argv, unsetEnv: [] });
process.stdout.write(`${JSON.stringify({ ready: true, reaped })}\n`);
process.on("SIGTERM", async () => {
  await supervisor.stop();
  process.exit(0);
});
setInterval(() => undefined, 1 << 30);
