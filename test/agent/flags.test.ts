import { describe, expect, it } from "vitest";
import { renderFlags } from "../../src/agent/flags.js";
import { redactArgv } from "../../src/secrets.js";

const FLAG = { tokenMode: "flag", stateDir: "/var/lib/pas" } as const;
const FILE = { tokenMode: "file", stateDir: "/var/lib/pas" } as const;
const STORE = { address: "10.0.0.5:7070", insecure: true };
const TOKEN_STORE = { address: "parca.example.com:443", insecure: false, token: "s3cr3t" };

describe("renderFlags", () => {
  it("appends the store's flags after the base args", () => {
    expect(renderFlags(["--node=n1"], STORE, FLAG)).toEqual({
      argv: ["--node=n1", "--remote-store-address=10.0.0.5:7070", "--remote-store-insecure=true"],
      unsetEnv: [],
    });
  });

  it("removes the address in =value and separate-value forms, wherever it stands", () => {
    const base = [
      "--remote-store-address=old:1",
      "--node=n1",
      "--remote-store-address",
      "old:2",
      "--http-address=:7071",
    ];
    expect(renderFlags(base, STORE, FLAG).argv).toEqual([
      "--node=n1",
      "--http-address=:7071",
      "--remote-store-address=10.0.0.5:7070",
      "--remote-store-insecure=true",
    ]);
  });

  it("removes the insecure flag bare and with =value, never swallowing the next argument", () => {
    const base = [
      "--remote-store-insecure",
      "--node=n1",
      "--remote-store-insecure=false",
      "--remote-store-insecure",
      "false",
    ];
    expect(renderFlags(base, STORE, FLAG).argv).toEqual([
      "--node=n1",
      "false",
      "--remote-store-address=10.0.0.5:7070",
      "--remote-store-insecure=true",
    ]);
  });

  it("a trailing address flag without its value is removed alone", () => {
    expect(
      renderFlags(["--node=n1", "--remote-store-address"], STORE, FLAG).argv.slice(0, 1),
    ).toEqual(["--node=n1"]);
  });

  it("leaves look-alike flags alone", () => {
    const base = [
      "--remote-store-insecure-skip-verify",
      "--remote-store-address-x=1",
      "--remote-store-grpc-headers=a=b",
    ];
    expect(renderFlags(base, STORE, FLAG).argv.slice(0, 3)).toEqual(base);
  });

  it("a relation token replaces every other token source", () => {
    const base = [
      "--remote-store-bearer-token=operator",
      "--remote-store-bearer-token",
      "operator2",
      "--remote-store-bearer-token-file=/etc/token",
      "--remote-store-bearer-token-file",
      "/etc/token2",
      "--node=n1",
    ];
    expect(renderFlags(base, TOKEN_STORE, FLAG)).toEqual({
      argv: [
        "--node=n1",
        "--remote-store-address=parca.example.com:443",
        "--remote-store-insecure=false",
        "--remote-store-bearer-token=s3cr3t",
      ],
      unsetEnv: ["PARCA_BEARER_TOKEN"],
    });
  });

  it("without a relation token, the operator's token flag and file are kept", () => {
    const base = [
      "--remote-store-bearer-token",
      "operator",
      "--remote-store-bearer-token-file=/etc/t",
    ];
    const out = renderFlags(base, STORE, FLAG);
    expect(out.argv.slice(0, 3)).toEqual(base);
    expect(out.unsetEnv).toEqual([]);
  });

  it("token mode file points the agent at a token file and keeps the token off the command line", () => {
    const out = renderFlags(["--remote-store-bearer-token=operator"], TOKEN_STORE, FILE);
    expect(out.argv).toEqual([
      "--remote-store-address=parca.example.com:443",
      "--remote-store-insecure=false",
      "--remote-store-bearer-token-file=/var/lib/pas/bearer-token",
    ]);
    expect(out.tokenFile).toEqual({ path: "/var/lib/pas/bearer-token", content: "s3cr3t" });
    expect(out.argv.join(" ")).not.toContain("s3cr3t");
    expect(out.unsetEnv).toEqual(["PARCA_BEARER_TOKEN"]);
  });

  it("is deterministic and keeps every value in one argv element", () => {
    const base = ["--node=n 1", "--label", "a;b $(x)"];
    const one = renderFlags(base, TOKEN_STORE, FLAG);
    const two = renderFlags([...base], { ...TOKEN_STORE }, FLAG);
    expect(one).toEqual(two);
    expect(one.argv.slice(0, 3)).toEqual(base);
  });
});

describe("redactArgv", () => {
  it("hides token values in both forms and secret-looking header values", () => {
    expect(
      redactArgv([
        "--remote-store-bearer-token=s3cr3t",
        "--remote-store-bearer-token",
        "s3cr3t",
        "--remote-store-grpc-headers=Authorization=Basic abc",
        "--remote-store-grpc-headers=x-tenant=t1",
        "--remote-store-bearer-token-file=/var/lib/pas/bearer-token",
      ]),
    ).toEqual([
      "--remote-store-bearer-token=<redacted>",
      "--remote-store-bearer-token",
      "<redacted>",
      "--remote-store-grpc-headers=<redacted>",
      "--remote-store-grpc-headers=x-tenant=t1",
      "--remote-store-bearer-token-file=/var/lib/pas/bearer-token",
    ]);
  });
});
