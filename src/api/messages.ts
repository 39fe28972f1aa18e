import { create, type DescMessage, type MessageShape, toJsonString } from "@bufbuild/protobuf";
import {
  type CheckResult as CheckResultMessage,
  CheckResultSchema,
  type Problem as ProblemMessage,
  ProblemSchema,
  StageSchema,
  type StoreConfig as StoreConfigMessage,
  StoreConfigSchema,
} from "../gen/parca/sidecar/v1/sidecar_pb.js";
import type { Problem } from "../problem.js";
import type { StoreConfig } from "../relation/types.js";
import type { CheckResult } from "../store/check.js";

export function problemMessage(p: Problem): ProblemMessage {
  return create(ProblemSchema, { code: p.code, message: p.message, hint: p.hint, path: p.path });
}

/** The store as the API shows it: whether a token is set, never the token. */
export function storeMessage(store: StoreConfig): StoreConfigMessage {
  return create(StoreConfigSchema, {
    address: store.address,
    insecure: store.insecure,
    tokenSet: store.token !== undefined,
  });
}

/** Protobuf JSON as the CLI prints it: implicit defaults emitted, unset messages left out. */
export function toJson<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
): string {
  return toJsonString(schema, message, { alwaysEmitImplicit: true });
}

export function checkResultMessage(result: CheckResult): CheckResultMessage {
  return create(CheckResultSchema, {
    ok: result.ok,
    address: result.address,
    insecure: result.insecure,
    stages: result.stages.map((s) =>
      create(StageSchema, { name: s.name, ok: s.ok, durationMs: s.durationMs }),
    ),
    ...(result.diagnosis ? { diagnosis: problemMessage(result.diagnosis) } : {}),
    warnings: result.warnings.map(problemMessage),
    durationMs: result.durationMs,
    writeRpc: result.writeRpc?.rpc ?? "",
    writeRpcReason: result.writeRpc?.why ?? "",
  });
}
