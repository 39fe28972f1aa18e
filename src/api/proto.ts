import { create, type DescMessage, type MessageShape, toJsonString } from "@bufbuild/protobuf";
import {
  type Problem as ProblemMessage,
  ProblemSchema,
  type StoreConfig as StoreConfigMessage,
  StoreConfigSchema,
} from "../gen/parca/sidecar/v1/sidecar_pb.js";
import type { Problem } from "../problem.js";
import type { StoreConfig } from "../relation/types.js";

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
