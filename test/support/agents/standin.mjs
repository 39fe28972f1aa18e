#!/usr/bin/env node
// Stand-in for parca-agent. Like the real agent it re-executes itself as a child (the worker,
// whose argv ends in --telemetry-disable-panic-reporting), the parent installs no signal handler
// and the worker's stderr runs through the parent; the worker shuts down gracefully on SIGTERM —
// unless the parent is gone, when its next log line kills it (the real agent dies of SIGPIPE).
// With $STANDIN_CRASH_ADDRESS naming its store it panics after $STANDIN_CRASH_AFTER_MS [50].
// Given --config-path, the worker reads that YAML flag file at start (the command line wins),
// and records it. It refuses unknown flags at once (as Kong does), records every start (argv, token file,
// environment) as a JSON line in $STANDIN_RECORD and every graceful stop in $STANDIN_RECORD.stops.
// Given --http-address, the worker really writes: WriteArrow to the store its flags name (token,
// TLS with the CA of SSL_CERT_FILE; a unix:///path over plaintext), every 200 ms, and serves
// parca_agent_write_requests_total{code} on /metrics there once the store has answered (with
// --standin-legacy-metrics: grpc_client_handled_total of Write, as agents before v0.48; with
// $STANDIN_NO_WRITES_ADDRESS naming its store: /metrics at once, and no write ever — an agent
// that profiles nothing).
// Like the real parent, when its worker fails it lingers (reporting the panic to the store):
// $STANDIN_REPORT_MS [0] before it exits 1 — with 0, it exits with the worker's code at once.
// `--version` prints what the real agent prints, with $STANDIN_VERSION (empty by default: an
// unversioned build, whose version the sidecar cannot know).
import { spawn } from "node:child_process";
import { appendFileSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { connect } from "node:http2";
import { isIP, connect as netConnect } from "node:net";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

const WORKER_FLAG = "--telemetry-disable-panic-reporting";
const args = process.argv.slice(2).filter((a) => a !== WORKER_FLAG);
const KNOWN =
  /^--(remote-store-[a-z-]+|node|http-address|config-path|log-level|standin-[a-z-]+)(=|$)/;

/** The worker's --config-path file (a Kong YAML flag file), read once at start. */
let fileConfig = {};

/** A flag's value: the command line wins over the --config-path file, as with Kong. */
function flag(name) {
  const arg = args.findLast((a) => a === name || a.startsWith(`${name}=`));
  if (arg === undefined) {
    const value = fileConfig[name.slice(2)];
    return value === undefined || value === null ? undefined : String(value);
  }
  return arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : "true";
}

function pgid() {
  const stat = readFileSync("/proc/self/stat", "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
}

/** The worker's graceful shutdown: one log line through the parent, a flush, a record, exit 0. */
function shutDownGracefully() {
  process.stderr.write("agent shutting down\n", (err) => {
    // The parent is gone: the line cannot be written, and the worker dies before flushing.
    if (err) process.kill(process.pid, "SIGKILL");
    setTimeout(() => {
      const record = process.env.STANDIN_RECORD;
      if (record) appendFileSync(`${record}.stops`, `${JSON.stringify({ pid: process.pid })}\n`);
      process.exit(0);
    }, 20);
  });
}

function runAgent() {
  const configPath = flag("--config-path");
  if (configPath) fileConfig = parse(readFileSync(configPath, "utf8")) ?? {};
  if (flag("--standin-ignore-term")) process.on("SIGTERM", () => console.error("ignoring SIGTERM"));
  else process.on("SIGTERM", shutDownGracefully);
  const tokenFile = flag("--remote-store-bearer-token-file");
  const record = process.env.STANDIN_RECORD;
  if (record) {
    appendFileSync(
      record,
      `${JSON.stringify({
        pid: process.pid,
        ppid: process.ppid,
        pgid: pgid(),
        argv: args,
        tokenFromFile: tokenFile ? readFileSync(tokenFile, "utf8").trim() : undefined,
        envToken: process.env.PARCA_BEARER_TOKEN,
        marker: process.env.PARCA_AGENT_SIDECAR_STATE,
        ...(configPath ? { config: fileConfig } : {}),
      })}\n`,
    );
  }
  // The real agent logs its flags; the sidecar must scrub the token from what it forwards.
  console.log(`agent running with ${args.join(" ")}`);
  console.error(`agent ready (pid ${process.pid})`);
  const crashOn = process.env.STANDIN_CRASH_ADDRESS;
  if (crashOn && flag("--remote-store-address") === crashOn) {
    setTimeout(
      () => {
        console.error(`panic: cannot run against ${crashOn}`);
        process.exit(2);
      },
      Number(process.env.STANDIN_CRASH_AFTER_MS ?? 50),
    );
  }
  // One delay, or one per start ("0,0,700": the third start and later crash after 700 ms),
  // the starts counted in $STANDIN_RECORD.
  const crash = flag("--standin-crash-after-ms");
  if (crash !== undefined) {
    const schedule = crash.split(",").map(Number);
    const starts = record ? readFileSync(record, "utf8").trim().split("\n").length : 1;
    setTimeout(
      () => {
        console.error("panic: stand-in crash");
        process.exit(3);
      },
      schedule[Math.min(starts, schedule.length) - 1],
    );
  }
  if (flag("--http-address")) write();
  setInterval(() => undefined, 1 << 30);
}

/** Go's names of gRPC codes, as the agent's counter labels them. */
const GO_CODES = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];

function write() {
  const address = flag("--remote-store-address") ?? "";
  const insecure = flag("--remote-store-insecure") === "true";
  const tokenFile = flag("--remote-store-bearer-token-file");
  const token = tokenFile
    ? readFileSync(tokenFile, "utf8").trim()
    : flag("--remote-store-bearer-token");
  const counts = new Map();
  let serving = false;
  const serve = () => {
    if (serving) return;
    serving = true;
    const listen = flag("--http-address");
    const colon = listen.lastIndexOf(":");
    createServer((_req, res) => {
      const legacy = flag("--standin-legacy-metrics");
      const lines = [
        "# HELP go_goroutines Number of goroutines.",
        "# TYPE go_goroutines gauge",
        "go_goroutines 42",
      ];
      for (const [code, n] of counts) {
        lines.push(
          legacy
            ? `grpc_client_handled_total{grpc_code="${code}",grpc_method="Write",grpc_service="parca.profilestore.v1alpha1.ProfileStoreService",grpc_type="bidi_stream"} ${n}`
            : `parca_agent_write_requests_total{code="${code}"} ${n}`,
        );
      }
      res
        .writeHead(200, { "content-type": "text/plain; version=0.0.4" })
        .end(`${lines.join("\n")}\n`);
    }).listen(Number(listen.slice(colon + 1)), listen.slice(0, colon).replace(/^\[|\]$/g, ""));
  };
  let session;
  const once = () => {
    if (!session || session.closed || session.destroyed) {
      const host = address.slice(0, address.lastIndexOf(":")).replace(/^\[|\]$/g, "");
      // grpc-go's unix:///path (the relay's socket), as the real agent dials it.
      const unix = address.startsWith("unix://") ? address.slice("unix://".length) : undefined;
      session = unix
        ? connect("http://localhost", { createConnection: () => netConnect(unix) })
        : insecure
          ? connect(`http://${address}`)
          : connect(`https://${address}`, {
              ...(process.env.SSL_CERT_FILE ? { ca: readFileSync(process.env.SSL_CERT_FILE) } : {}),
              ...(isIP(host) ? {} : { servername: host }),
              rejectUnauthorized: flag("--remote-store-insecure-skip-verify") !== "true",
              ALPNProtocols: ["h2"],
            });
      session.on("error", () => undefined);
    }
    // WriteArrowRequest{ipc_buffer: "profile"}, framed.
    const body = Buffer.from([0, 0, 0, 0, 9, 0x0a, 7, ...Buffer.from("profile")]);
    const stream = session.request({
      ":method": "POST",
      ":path": "/parca.profilestore.v1alpha1.ProfileStoreService/WriteArrow",
      "content-type": "application/grpc",
      te: "trailers",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    });
    let status;
    stream.on("response", (h) => {
      status = h["grpc-status"] ?? status;
    });
    stream.on("trailers", (t) => {
      status = t["grpc-status"] ?? status;
    });
    stream.on("error", () => undefined);
    stream.on("close", () => {
      if (status === undefined) return; // no answer: not connected, nothing counted
      const code = GO_CODES[Number(status)] ?? "Unknown";
      counts.set(code, (counts.get(code) ?? 0) + 1);
      serve();
    });
    stream.resume();
    stream.end(body);
  };
  if (process.env.STANDIN_NO_WRITES_ADDRESS === address) return serve();
  once();
  setInterval(once, Number(flag("--standin-write-interval-ms") ?? 200));
}

if (args.includes("--version")) {
  const version = process.env.STANDIN_VERSION ?? "";
  // A release logs a line on stderr before it answers (its memory limit).
  console.error("INFO memory is not limited, skipping");
  console.log(`parca-agent, version ${version} (commit: standin, date: ), arch: amd64`);
  process.exit(0);
} else if (process.env.STANDIN_CHILD === "1") {
  runAgent();
} else {
  const unknown = args.find((a) => a.startsWith("--") && !KNOWN.test(a));
  if (unknown) {
    console.error(`parca-agent: error: unknown flag ${unknown.split("=")[0]}`);
    process.exit(80);
  }
  if (flag("--standin-no-reexec")) {
    runAgent();
  } else {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args, WORKER_FLAG], {
      stdio: ["inherit", "inherit", "pipe"],
      env: { ...process.env, STANDIN_CHILD: "1" },
    });
    child.stderr.pipe(process.stderr);
    // A sidecar SIGKILLed leaves the parent's own stderr broken: the orphaned group lives on
    // until the next sidecar stops it (the tests of predecessor reaping need it to).
    process.stderr.on("error", () => undefined);
    if (flag("--standin-ignore-term")) process.on("SIGTERM", () => undefined);
    const lingerMs = Number(process.env.STANDIN_REPORT_MS ?? 0);
    child.on("exit", (code, signal) => {
      const failed = code !== 0 || signal !== null;
      if (!failed || lingerMs === 0) process.exit(code ?? (signal ? 1 : 0));
      console.error("about to report error to server");
      setTimeout(() => process.exit(1), lingerMs);
    });
  }
}
