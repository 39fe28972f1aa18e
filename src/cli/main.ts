import { checkCommand } from "./check.js";
import { commandHelp } from "./help.js";
import type { Io } from "./io.js";
import { type Command, Options, parseCommandLine, UsageError } from "./options.js";
import { pauseCommand } from "./pause.js";
import { renderCommand } from "./render.js";
import { runCommand, StartError } from "./run.js";
import { runConfig } from "./run-config.js";
import { statusCommand } from "./status.js";
import { version } from "./version.js";

const USAGE = `parca-agent-sidecar — keeps parca-agent pointed at the right Parca store

Usage:
  parca-agent-sidecar run     [options] -- [agent base args…]
  parca-agent-sidecar render  --relation PATH [--relation PATH…] [--token-mode flag|file] [--state-dir DIR] [--show-token] -- [agent base args…]
  parca-agent-sidecar check   --relation PATH [--relation PATH…] [--ca-file F] [--timeout-ms N] [--agent-version V] -- [agent base args…]
  parca-agent-sidecar status  [--address HOST:PORT|unix:PATH] [--json] [--watch]
  parca-agent-sidecar pause   [--address …] [--reason TEXT]
  parca-agent-sidecar resume  [--address …]
  parca-agent-sidecar --help | --version

Commands:
  run      watch the relation data, check the store, run the agent with the rendered flags
  render   print the agent's argv for the current relation data (RenderResult JSON)
  check    check the configured store the way the agent will connect (CheckResult JSON)
  status   show a running sidecar's status
  pause    freeze the agent's config: new relation data is checked and shown, never applied
  resume   end a pause: the relation data is applied again

Every run option also reads PARCA_SIDECAR_<OPTION> (e.g. --relation → PARCA_SIDECAR_RELATION,
paths separated by ":"); a flag replaces its variable.
Run "parca-agent-sidecar <command> --help" for a command's options, defaults and variables.
`;

/** Each command's usage line, for its own help. */
const USAGES: Record<Command, string> = {
  run: "run [options] -- [agent base args…]",
  render: "render --relation PATH [options] -- [agent base args…]",
  check: "check --relation PATH [options] -- [agent base args…]",
  status: "status [options]",
  pause: "pause [--address ADDR] [--reason TEXT]",
  resume: "resume [--address ADDR]",
};

const COMMANDS: readonly Command[] = ["run", "render", "check", "status", "pause", "resume"];

export type { Io };

/** Runs the CLI and returns its exit code; `run` keeps going until it is stopped. */
export async function main(args: readonly string[], io: Io): Promise<number> {
  const [first, ...rest] = args;
  if (first === "--help" || first === "-h" || first === "help") {
    io.out(USAGE);
    return 0;
  }
  if (first === "--version" || first === "-v") {
    io.out(version());
    return 0;
  }
  if (first === undefined || !(COMMANDS as readonly string[]).includes(first)) {
    io.err(
      first === undefined
        ? "parca-agent-sidecar: a command is needed (run, render, check, status, pause, resume); see --help"
        : `parca-agent-sidecar: unknown command ${JSON.stringify(first)}; see --help`,
    );
    return 2;
  }
  const command = first as Command;
  try {
    const dashdash = rest.indexOf("--");
    const own = dashdash < 0 ? rest : rest.slice(0, dashdash);
    if (own.includes("--help") || own.includes("-h")) {
      io.out(commandHelp(command, USAGES[command]).trimEnd());
      return 0;
    }
    const options = new Options(parseCommandLine(command, rest, io.env));
    switch (command) {
      case "render":
        return await renderCommand(options, io.out);
      case "check":
        return await checkCommand(options, io.env, io.out, io.isTty ?? false);
      case "run":
        return await runCommand(
          runConfig(options, io.isTty ?? false),
          io.env,
          io.log ?? process.stdout,
        );
      case "status":
        return await statusCommand(options, io);
      case "pause":
      case "resume":
        return await pauseCommand(command, options, io);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`parca-agent-sidecar: ${err.message}`);
      return 2;
    }
    if (err instanceof StartError) {
      io.err(`parca-agent-sidecar: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
