import {
  type DescMessage,
  type DescMethod,
  type DescService,
  fromBinary,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";

function method(service: DescService, m: DescMethod): MethodDefinition<unknown, unknown> {
  const serialize = (schema: DescMessage) => (msg: unknown) =>
    // grpc-js needs a real Buffer; a bare Uint8Array fails.
    Buffer.from(toBinary(schema, msg as MessageShape<typeof schema>));
  const deserialize = (schema: DescMessage) => (bytes: Buffer) => fromBinary(schema, bytes);
  return {
    path: `/${service.typeName}/${m.name}`,
    requestStream: m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming",
    responseStream: m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming",
    requestSerialize: serialize(m.input),
    requestDeserialize: deserialize(m.input),
    responseSerialize: serialize(m.output),
    responseDeserialize: deserialize(m.output),
    originalName: m.localName,
  };
}

/** A grpc-js ServiceDefinition built from a protobuf-es service schema. */
export function serviceDefinition(service: DescService): ServiceDefinition {
  return Object.fromEntries(service.methods.map((m) => [m.localName, method(service, m)]));
}
