import { afterEach, expect } from "vitest";
import { RealParca } from "./parca.js";
import { strayAgents } from "./procs.js";
import { Sidecar } from "./sidecar.js";
import { TestStore, type TestStoreOptions } from "./store.js";
import { tempDir } from "./tmp.js";

const stops: (() => Promise<unknown>)[] = [];

/** Runs `stop` after the current test; the latest registered runs first. */
export function afterTest(stop: () => Promise<unknown>): void {
  stops.push(stop);
}

/**
 * For an end-to-end suite: after each test, stops what it started (latest first, so sidecars
 * before their stores) and asserts that no stand-in agent is left behind.
 */
export function cleanUpAfterEach(): void {
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
    expect(await strayAgents()).toEqual([]);
  });
}

/** A test store on loopback, stopped after the test. */
export async function startStore(options: TestStoreOptions = {}): Promise<TestStore> {
  const s = await TestStore.start(options);
  afterTest(() => s.stop());
  return s;
}

/** A real Parca server on loopback (test/support/parca.ts), stopped after the test. */
export async function startParca(
  options: Parameters<typeof RealParca.start>[1] = {},
): Promise<RealParca> {
  const server = await RealParca.start(await tempDir("pas-parca-"), options);
  afterTest(() => server.stop());
  return server;
}

/** The real `run` process, stopped after the test. */
export async function startSidecar(...args: Parameters<typeof Sidecar.start>): Promise<Sidecar> {
  const s = await Sidecar.start(...args);
  afterTest(() => s.stop());
  return s;
}
