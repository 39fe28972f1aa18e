import { create } from "@bufbuild/protobuf";
import {
  PauseRequestSchema,
  ResumeRequestSchema,
  type Status,
} from "../gen/parca/sidecar/v1/sidecar_pb.js";
import { callFirst, errorLine, NoSidecar, sidecarAddresses } from "./client.js";
import type { Io } from "./io.js";
import type { Options } from "./options.js";

/**
 * `pause` / `resume`: freeze the agent's config for an incident, and thaw it. New relation
 * data is still checked and shown while paused, never applied; the pause outlives a restart of
 * the sidecar. Prints the sidecar's status message; exit 1 when no sidecar answers.
 */
export async function pauseCommand(
  command: "pause" | "resume",
  options: Options,
  io: Io,
): Promise<number> {
  const addresses = sidecarAddresses(options, io.env);
  try {
    const { address, response } =
      command === "pause"
        ? await callFirst(
            command,
            addresses,
            (c) => c.pause,
            create(PauseRequestSchema, { reason: options.optionalString("reason") ?? "" }),
          )
        : await callFirst(command, addresses, (c) => c.resume, create(ResumeRequestSchema));
    const status: Status | undefined = response.status;
    io.out(`${command === "pause" ? "paused" : "resumed"} the sidecar at ${address}`);
    if (status) io.out(status.message);
    return 0;
  } catch (err) {
    io.err(
      err instanceof NoSidecar ? err.message : `parca-agent-sidecar ${command}: ${errorLine(err)}`,
    );
    return 1;
  }
}
