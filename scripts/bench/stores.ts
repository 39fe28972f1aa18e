// Plaintext test stores in a process of their own, for the bench: the writer and the stores must
// not share an event loop, or each check the sidecar makes would stall the writer.
// usage: node stores.js COUNT — prints one JSON line of addresses, stops on SIGTERM.
import { TestStore } from "../../test/support/store.js";

const count = Number(process.argv[2] ?? 2);
const stores = await Promise.all(Array.from({ length: count }, () => TestStore.start()));
process.stdout.write(`${JSON.stringify(stores.map((s) => s.address))}\n`);
process.on("SIGTERM", () => {
  void Promise.all(stores.map((s) => s.stop())).then(() => process.exit(0));
});
