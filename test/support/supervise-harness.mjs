#!/usr/bin/env node
// A minimal sidecar for tests that kill it: supervises the stand-in agent on a state dir, after
// stopping whatever a killed predecessor left behind; SIGTERM stops it (exit 0). Built code
// (dist/) only.
// usage: supervise-harness.mjs STATE_DIR AGENT [agent args…]
import { realpathSync } from "node:fs";
import { Supervisor } from "../../dist/agent/supervisor.js";
import { createLogger } from "../../dist/log.js";
import { Secrets } from "../../dist/secrets.js";

// Handled from the first moment: a SIGTERM that came before a handler would kill this process
// and leave its agent running (a test sends it as soon as it reads "ready").
const signalled = new Promise((resolve) => process.once("SIGTERM", resolve));
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
const alive = setInterval(() => undefined, 1 << 30);
await signalled;
await supervisor.stop();
clearInterval(alive);
process.exit(0);
