import { describe, expect, it } from "vitest";
import { type Command, envName, OPTIONS } from "../../src/cli/option-table.js";
import { runCli } from "../support/cli.js";

describe("help for every command, from the one option table", () => {
  for (const command of [
    "run",
    "render",
    "check",
    "status",
    "pause",
    "resume",
  ] as const satisfies Command[]) {
    it(`${command} --help and -h list its options, defaults and variables`, async () => {
      const long = await runCli([command, "--help"]);
      const short = await runCli([command, "-h"]);
      expect(long.code).toBe(0);
      expect(short).toEqual(long);
      expect(long.stdout).toContain(`Usage: parca-agent-sidecar ${command}`);
      expect(long.stdout).not.toContain("README");
      for (const [name, spec] of Object.entries(OPTIONS)) {
        const listed = new RegExp(`^  --${name}( |$)`, "m").test(long.stdout);
        expect({ name, listed }).toEqual({ name, listed: spec.commands.includes(command) });
        if (!spec.commands.includes(command)) continue;
        if (spec.default !== undefined) expect(long.stdout).toContain(`default ${spec.default}`);
        if (spec.env) expect(long.stdout).toContain(`env ${envName(name)}`);
      }
    });
  }
});
