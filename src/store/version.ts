/** Agents from this version on write only with WriteArrow (docs/store-protocol.md). */
const ARROW_ONLY = [0, 48] as const;

/**
 * Whether an agent of this version still writes through the old Write stream, so a store
 * without WriteArrow is only a warning. An unknown or unparsable version counts as recent.
 */
export function agentPredatesArrow(version: string | undefined): boolean {
  const match = /^v?(\d+)\.(\d+)/.exec(version?.trim() ?? "");
  if (!match) return false;
  const major = Number(match[1]);
  const minor = Number(match[2]);
  return major < ARROW_ONLY[0] || (major === ARROW_ONLY[0] && minor < ARROW_ONLY[1]);
}
