import { type Command, envName, OPTIONS } from "./option-table.js";

/** `<command> --help`: the command's options, each with its default and variable. */
export function commandHelp(command: Command, usage: string): string {
  const lines = [`Usage: parca-agent-sidecar ${usage}`, "", "Options:"];
  for (const [name, spec] of Object.entries(OPTIONS)) {
    if (!spec.commands.includes(command)) continue;
    const flag = `--${name}${spec.value ? ` ${spec.value}` : ""}`;
    const extra = [
      spec.choices ? `one of ${spec.choices.join(", ")}` : "",
      spec.default !== undefined ? `default ${spec.default}` : "",
      spec.env ? `env ${envName(name)}` : "",
    ].filter(Boolean);
    lines.push(`  ${flag}`, `      ${spec.help}${extra.length ? ` [${extra.join("; ")}]` : ""}`);
  }
  lines.push("  -h, --help", "      this help");
  return `${lines.join("\n")}\n`;
}
