// The Go judge (test/support/judge/main.go): built once per test run with the machine's Go,
// into a cache outside the repository keyed by its source, and asked "would the agent's Go
// stack connect?".
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "./root.js";

const SOURCE = join(ROOT, "test", "support", "judge");
/** Go's own rules this project relies on come with these releases (docs/tls-fidelity.md). */
const MIN_GO = [1, 24];

export interface Verdict {
  readonly connect: boolean;
  readonly stage: string;
  readonly error?: string;
  readonly grpcStatus: number;
  readonly httpStatus: number;
}

export interface JudgeRequest {
  readonly address: string;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly skipVerify?: boolean;
  readonly token?: string;
  readonly env?: NodeJS.ProcessEnv;
}

function goVersion(): number[] {
  let text: string;
  try {
    text = execFileSync("go", ["env", "GOVERSION"], { encoding: "utf8" });
  } catch {
    throw new Error("the TLS judge needs Go ≥ 1.24 on PATH (this project's tests build it)");
  }
  return (/go(\d+)\.(\d+)/.exec(text) ?? []).slice(1).map(Number);
}

let built: string | undefined;

/** The judge's binary, built on first use. */
export function judgeBinary(): string {
  if (built) return built;
  const [major = 0, minor = 0] = goVersion();
  if (major < (MIN_GO[0] ?? 0) || (major === MIN_GO[0] && minor < (MIN_GO[1] ?? 0))) {
    throw new Error(`the TLS judge needs Go ≥ ${MIN_GO.join(".")}; found go${major}.${minor}`);
  }
  const hash = createHash("sha256")
    .update(readFileSync(join(SOURCE, "main.go")))
    .update(readFileSync(join(SOURCE, "go.mod")))
    .update(`go${major}.${minor}`)
    .digest("hex")
    .slice(0, 16);
  const dir = join(tmpdir(), `parca-agent-sidecar-judge-${hash}`);
  const binary = join(dir, "judge");
  if (!existsSync(binary)) {
    mkdirSync(dir, { recursive: true });
    const temp = `${binary}.${process.pid}`;
    execFileSync("go", ["build", "-o", temp, "."], {
      cwd: SOURCE,
      env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=mod", GOPROXY: "off" },
      stdio: ["ignore", "ignore", "inherit"],
    });
    execFileSync("mv", ["-f", temp, binary]);
  }
  built = binary;
  return binary;
}

const run = promisify(execFile);

/** Would the agent's Go stack connect to this store, and if not, why. */
export async function judge(request: JudgeRequest): Promise<Verdict> {
  const args = ["-address", request.address];
  if (request.caFile) args.push("-ca", request.caFile);
  if (request.certFile) args.push("-cert", request.certFile, "-key", request.keyFile ?? "");
  if (request.skipVerify) args.push("-skip-verify");
  if (request.token) args.push("-token", request.token);
  const { stdout } = await run(judgeBinary(), args, {
    env: { PATH: process.env.PATH, ...(request.env ?? {}) },
  });
  return JSON.parse(stdout) as Verdict;
}

/** Go's x509 VerifyHostname on a PEM certificate file. */
export async function goVerifiesHostname(host: string, certFile: string): Promise<Verdict> {
  const { stdout } = await run(judgeBinary(), ["-verify-hostname", host, "-leaf", certFile]);
  return JSON.parse(stdout) as Verdict;
}
