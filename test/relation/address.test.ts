import { describe, expect, it } from "vitest";
import { validateAddress } from "../../src/relation/address.js";
import { RelationError } from "../../src/relation/errors.js";

function rejection(address: string): RelationError {
  try {
    validateAddress(address);
  } catch (err) {
    if (err instanceof RelationError) return err;
    throw err;
  }
  throw new Error(`${address} was accepted`);
}

describe("validateAddress", () => {
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
    expect(validateAddress(address)).toBe(address);
  });

  it.each([
    ["https://parca.example.com", /"parca\.example\.com:443"/],
    ["grpc://parca:7070/", /"parca:7070"/],
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
  });
});
