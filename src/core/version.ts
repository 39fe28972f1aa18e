/** Release versions as parca-agent names them (`v0.41.0`), compared by number. */
export type Version = readonly [number, number, number];

/** `v0.41.0`, `0.48`, `v0.47.1-rc.1` → [major, minor, patch]; anything else → undefined. */
export function parseVersion(version: string | undefined): Version | undefined {
  const match = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(version?.trim() ?? "");
  if (!match) return undefined;
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
}

/** Whether `version` is older than `than`. */
export function olderThan(version: Version, than: Version): boolean {
  for (let i = 0; i < 3; i++) {
    if (version[i] !== than[i]) return (version[i] as number) < (than[i] as number);
  }
  return false;
}
