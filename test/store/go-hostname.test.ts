// Go's host-name rules, where the differential test cannot dial (names other than localhost):
// the check's goHostnameRefusal against Go's own x509 VerifyHostname, name by name.
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { goHostnameRefusal } from "../../src/store/go-tls.js";
import { issue } from "../support/certs.js";
import { goVerifiesHostname, judgeBinary } from "../support/judge.js";

const pairs: [pattern: string, host: string][] = [
  ["*.example.com", "store.example.com"],
  ["*.example.com", "a.store.example.com"],
  ["*.example.com", "example.com"],
  ["st*.example.com", "store.example.com"],
  ["*store.example.com", "parca-store.example.com"],
  ["*.EXAMPLE.com", "store.example.com"],
  ["store.example.com", "STORE.example.com"],
  ["store.example.com.", "store.example.com"],
  ["*", "localhost"],
  ["*.*.example.com", "a.b.example.com"],
  ["store.example.com", "store.example.co"],
  ["xn--bcher-kva.example", "xn--bcher-kva.example"],
];

let dir = "";
beforeAll(async () => {
  judgeBinary();
  dir = await mkdtemp(join(tmpdir(), "pas-hostname-"));
}, 120_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("host names, as Go matches them", () => {
  for (const [i, [pattern, host]] of pairs.entries()) {
    it(`${pattern} for ${host}`, async () => {
      const cert = issue({ cn: "not a host", dnsNames: [pattern] });
      const file = join(dir, `${i}.pem`);
      await writeFile(file, cert.certPem);
      const go = await goVerifiesHostname(host, file);
      const ours = goHostnameRefusal(host, new X509Certificate(cert.certPem));
      expect({ accepted: ours === undefined, go: go.error }).toEqual({
        accepted: go.connect,
        go: go.error,
      });
    });
  }
});
