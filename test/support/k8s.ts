// Kubernetes manifests checked as the API server would: the schema (kubernetes-models), unknown
// fields (what `kubectl apply --validate=strict` refuses), and pod combinations it refuses.
import { DaemonSet } from "kubernetes-models/apps/v1";
import { ConfigMap, Namespace, Secret } from "kubernetes-models/v1";

interface Model {
  validate(): void;
}
type ModelClass = new (data: Record<string, unknown>) => Model;

const MODELS: Record<string, ModelClass> = {
  "v1/Namespace": Namespace as unknown as ModelClass,
  "v1/Secret": Secret as unknown as ModelClass,
  "v1/ConfigMap": ConfigMap as unknown as ModelClass,
  "apps/v1/DaemonSet": DaemonSet as unknown as ModelClass,
};

type Path = readonly (string | number)[];
const PROBE_KEY = "zz-not-a-field";

/** The schema's complaints, as "path: message". */
function complaints(model: ModelClass, doc: unknown): { path: string; message: string }[] {
  try {
    new model(doc as Record<string, unknown>).validate();
    return [];
  } catch (err) {
    const details = (err as { errors?: { instancePath: string; message?: string }[] }).errors;
    if (!details) throw err;
    return details.map((d) => ({ path: d.instancePath, message: d.message ?? "invalid" }));
  }
}

function withValue(doc: unknown, path: Path, value: unknown): unknown {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let node = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path.at(-1) as string | number] = value;
  return copy;
}

/** Whether the schema knows the field at `path`: a value of the wrong type there is refused. */
function knows(model: ModelClass, doc: unknown, path: Path): boolean {
  const at = `/${path.join("/")}`;
  return [true, "x", {}].some((value) =>
    complaints(model, withValue(doc, path, value)).some((c) => c.path === at),
  );
}

/** Fields the schema does not have, as paths; maps (whose keys are data) are not looked into. */
function unknownFields(model: ModelClass, doc: unknown, node: unknown, path: Path): string[] {
  if (Array.isArray(node))
    return node.flatMap((item, i) => unknownFields(model, doc, item, [...path, i]));
  if (node === null || typeof node !== "object") return [];
  const isMap = path.length > 0 && knows(model, doc, [...path, PROBE_KEY]);
  if (isMap) return [];
  return Object.entries(node).flatMap(([key, value]) =>
    knows(model, doc, [...path, key])
      ? unknownFields(model, doc, value, [...path, key])
      : [`/${[...path, key].join("/")}`],
  );
}

/** What the API server would refuse in a pod spec that the schema lets through. */
function podRefusals(spec: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (spec.hostPID === true && spec.shareProcessNamespace === true)
    out.push("ShareProcessNamespace and HostPID cannot both be enabled");
  const volumes = new Set(((spec.volumes ?? []) as { name: string }[]).map((v) => v.name));
  const init = (spec.initContainers ?? []) as Record<string, unknown>[];
  const main = (spec.containers ?? []) as Record<string, unknown>[];
  for (const c of init) {
    const sidecar = c.restartPolicy === "Always";
    if (c.restartPolicy !== undefined && !sidecar)
      out.push(`init container ${c.name}: restartPolicy may only be Always`);
    for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"])
      if (c[probe] !== undefined && !sidecar)
        out.push(`init container ${c.name}: ${probe} needs restartPolicy Always`);
  }
  for (const c of main)
    if (c.restartPolicy !== undefined)
      out.push(`container ${c.name}: restartPolicy is for init containers`);
  for (const c of [...init, ...main])
    for (const m of (c.volumeMounts ?? []) as { name: string }[])
      if (!volumes.has(m.name)) out.push(`container ${c.name}: volume ${m.name} does not exist`);
  return out;
}

/** Every problem of one manifest document; an empty list passes. */
export function manifestProblems(doc: Record<string, unknown>): string[] {
  const key = `${doc.apiVersion}/${doc.kind}`;
  const model = MODELS[key];
  if (model === undefined) return [`no schema for ${key}`];
  const schema = complaints(model, doc).map((c) => `${c.path}: ${c.message}`);
  if (schema.length > 0) return schema;
  const unknown = unknownFields(model, doc, doc, []).map((p) => `${p}: unknown field`);
  const template = (doc.spec as { template?: { spec?: Record<string, unknown> } } | undefined)
    ?.template?.spec;
  return [...unknown, ...(template ? podRefusals(template) : [])];
}
