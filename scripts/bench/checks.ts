// The store check alone, plaintext and TLS, over loopback.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { checkStore } from "../../src/store/check.js";
import { targetFromArgv } from "../../src/store/target.js";
import { makePki } from "../../test/support/certs.js";
import { TestStore } from "../../test/support/store.js";
import { percentiles } from "./stats.js";

const WARM_UP = 10;

export async function measureChecks(dir: string, count: number) {
  const pki = makePki();
  const caFile = join(dir, "ca.pem");
  await writeFile(caFile, pki.ca.certPem);
  const plain = await TestStore.start();
  const tls = await TestStore.start({ tls: { leaf: pki.leaf } });
  const out: Record<string, { p50: number; p99: number }> = {};
  try {
    for (const [name, argv] of [
      ["plaintext", [`--remote-store-address=${plain.address}`, "--remote-store-insecure=true"]],
      ["tls", [`--remote-store-address=${tls.address}`, "--remote-store-insecure=false"]],
    ] as const) {
      const target = await targetFromArgv(argv, {});
      const times: number[] = [];
      for (let i = 0; i < count + WARM_UP; i++) {
        const r = await checkStore(target, { timeoutMs: 5000, caFile, env: process.env });
        if (!r.ok) throw new Error(`check failed: ${r.diagnosis?.code}`);
        if (i >= WARM_UP) times.push(r.durationMs);
      }
      const p = percentiles(times);
      out[name] = { p50: p.p50, p99: p.p99 };
    }
  } finally {
    await plain.stop();
    await tls.stop();
  }
  return out as { plaintext: { p50: number; p99: number }; tls: { p50: number; p99: number } };
}
