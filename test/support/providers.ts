// Relation data exactly as real `parca_store` providers write it (docs/relation.md), in the three
// forms the sidecar reads: `relation-get --app --format=json`, `relation-get`'s YAML default,
// and a Kubernetes Secret volume (one file per key, with the trailing newline such files have).

/**
 * The Polar Signals Cloud Integrator charm: its `external_url` verbatim — a URL with a scheme
 * and no port — `insecure=False`, and the token from its config.
 */
export const POLAR_SIGNALS = {
  "remote-store-address": "https://grpc.polarsignals.com",
  "remote-store-bearer-token": "psc_3QvR8kWm2ZtY7nBx5LcJ9pHd",
  "remote-store-insecure": "false",
};

/** The parca machine charm: no external URL, its unit address and port 7070, plaintext. */
export const PARCA_MACHINE = {
  "remote-store-address": "10.0.0.5:7070",
  "remote-store-insecure": "true",
};

/** parca-k8s today: its gRPC server URL as `host:port`, TLS (`insecure = scheme == "http"`). */
export const PARCA_K8S = {
  "remote-store-address": "parca-k8s.cos.svc.cluster.local:7993",
  "remote-store-insecure": "false",
};

/** An older parca-k8s revision: its HTTP ingress URL, path-routed by model and application. */
export const PARCA_K8S_INGRESS_URL = {
  "remote-store-address": "https://ingress.example.com/cos-parca-k8s",
  "remote-store-insecure": "false",
};

/** `relation-get --app --format=json`: one flat object of strings, on one line. */
export function asJson(bag: Record<string, string>): string {
  return `${JSON.stringify(bag)}\n`;
}

/** `relation-get` without a format: YAML, strings that would read as booleans quoted. */
export function asYaml(bag: Record<string, string>): string {
  return Object.entries(bag)
    .map(([key, value]) => `${key}: ${/^(true|false)$/.test(value) ? `"${value}"` : value}\n`)
    .join("");
}

/** A Secret volume's files: each value with a trailing newline. */
export function asKeyFiles(bag: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(bag).map(([key, value]) => [key, `${value}\n`]));
}
