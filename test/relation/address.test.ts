import { describe, expect, it } from "vitest";
import { parseAddress } from "../../src/relation/address.js";
import { RelationError } from "../../src/relation/errors.js";

function rejection(address: string, insecure = false): RelationError {
  try {
    parseAddress(address, insecure);
  } catch (err) {
    if (err instanceof RelationError) return err;
    throw err;
  }
  throw new Error(`${address} was accepted`);
}

describe("parseAddress", () => {
  it.each([
    "10.0.0.5:7070",
    "[::1]:7070",
    "[fd00::5]:443",
    "parca:7070",
    "parca.example.com:443",
    "parca.example.com.:443",
    "parca-0.parca.monitoring.svc.cluster.local:7070",
    "localhost:1",
    "a:65535",
    "my_store.internal:7070",
  ])("accepts %s", (address) => {
    expect(parseAddress(address, false)).toEqual({ address });
  });

  it.each([
    // The Polar Signals Cloud Integrator's external_url, as the provider library writes it.
    ["https://grpc.polarsignals.com", false, "grpc.polarsignals.com:443"],
    ["https://grpc.polarsignals.com/", false, "grpc.polarsignals.com:443"],
    ["https://parca.example.com:8443", false, "parca.example.com:8443"],
    ["HTTPS://Parca.Example.com", false, "parca.example.com:443"],
    ["http://10.0.0.5:7070", true, "10.0.0.5:7070"],
    ["http://parca.example.com", true, "parca.example.com:80"],
    ["https://[fd00::5]:7443", false, "[fd00::5]:7443"],
  ])("takes the URL %s (insecure %s) as %s", (url, insecure, address) => {
    expect(parseAddress(url, insecure)).toEqual({ address, url });
  });

  it("refuses a URL whose scheme contradicts remote-store-insecure, naming both keys", () => {
    for (const [url, insecure] of [
      ["https://grpc.polarsignals.com", true],
      ["http://parca.example.com:7070", false],
    ] as const) {
      const err = rejection(url, insecure);
      expect(err.code).toBe("INVALID_ADDRESS");
      expect(err.message).toContain("remote-store-address");
      expect(err.message).toContain("remote-store-insecure");
      expect(err.hint).toContain("provider");
    }
  });

  it("refuses a path-routed ingress URL: gRPC cannot pass a path prefix; the provider must publish host:port", () => {
    const err = rejection("https://parca.example.com/monitoring-parca");
    expect(err.message).toMatch(/gRPC cannot be routed through a path prefix/);
    expect(err.hint).toMatch(/provider must publish .*host:port.*"parca\.example\.com:443"/);
    for (const url of [
      "https://p.example.com?x=1",
      "https://p.example.com#f",
      "https://p.example.com/?",
    ]) {
      expect(rejection(url).message).toMatch(/path, query or fragment/);
    }
  });

  it.each([
    "grpc://parca:7070/",
    "grpcs://parca:443",
    "dns:///parca:7070",
    "unix:/run/parca.sock",
    "unix:///run/parca.sock",
    "https://user:pw@parca.example.com",
    "https://parca.example.com:99999",
    "https://parca.example.com:0",
  ])("refuses %s", (address) => {
    const err = rejection(address);
    expect(err.code).toBe("INVALID_ADDRESS");
    expect(err.hint).toContain("provider");
  });

  it.each([
    ["http://parca.example.com:8080/api", /"parca\.example\.com:8080"/],
    ["parca.example.com", /:7070/],
    ["parca.example.com:7070/profiles", /"parca\.example\.com:7070"/],
    ["parca .example.com:7070", /whitespace/],
    ["parca:70 70", /whitespace/],
    ["parca:7070\n--remote-store-insecure=true", /host:port/],
    ["--remote-store-insecure=true", /host:port/],
    ["-parca:7070", /host:port/],
    ["parca:0", /port/],
    ["parca:65536", /port/],
    ["parca:http", /port/],
    ["parca:", /port/],
    [":7070", /host/],
    ["::1:7070", /\[::1\]:7070/],
    ["fd00::5", /\[fd00::5\]/],
    ["[::1]", /port/],
    ["[::1:7070", /IPv6/],
    ["[zz::1]:7070", /IPv6/],
    ["999.1.1.1:7070", /IP address/],
    ["user@parca:7070", /host:port/],
    ["parca..example.com:7070", /host:port/],
    [`${"a".repeat(64)}.example.com:7070`, /host:port/],
  ])("rejects %j with a hint matching %s", (address, hint) => {
    const err = rejection(address);
    expect(err.code).toBe("INVALID_ADDRESS");
    expect(err.message).toContain("remote-store-address");
    expect(err.hint).toMatch(hint);
    // The operator is never told to edit a key without being told who writes it.
    expect(err.hint).toContain("provider");
  });
});
