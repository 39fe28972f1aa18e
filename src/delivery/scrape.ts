import { get } from "node:http";
import { parseFlags } from "../flag-names.js";

/** What one read of the agent's /metrics gave. */
export type Scrape =
  | { readonly kind: "answered"; readonly text: string }
  | { readonly kind: "unreachable"; readonly error: string };

export interface ScrapeOptions {
  readonly timeoutMs: number;
  /** An agent's /metrics carries every Go runtime metric and hundreds of profiler counters. */
  readonly maxBytes: number;
}

export const DEFAULT_SCRAPE: ScrapeOptions = { timeoutMs: 2000, maxBytes: 4 * 1024 * 1024 };

/** GETs `url` (plain HTTP, no redirects followed), within a time and size budget. */
export function scrape(url: string, options: ScrapeOptions = DEFAULT_SCRAPE): Promise<Scrape> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: Scrape) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve(result);
    };
    const request = get(url, { headers: { accept: "text/plain" } }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        return done({ kind: "unreachable", error: `HTTP ${response.statusCode}` });
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes)
          return done({ kind: "unreachable", error: `more than ${options.maxBytes} bytes` });
        chunks.push(chunk);
      });
      response.on("end", () => done({ kind: "answered", text: Buffer.concat(chunks).toString() }));
      response.on("error", (err) => done({ kind: "unreachable", error: err.message }));
    });
    request.on("error", (err: NodeJS.ErrnoException) =>
      done({ kind: "unreachable", error: err.code ?? err.message }),
    );
    const timer = setTimeout(
      () => done({ kind: "unreachable", error: `no answer within ${options.timeoutMs} ms` }),
      options.timeoutMs,
    );
  });
}

/**
 * Where the agent serves its metrics: from `--http-address` in its args (the last one wins;
 * a wildcard or empty host means loopback), else its default 127.0.0.1:7071.
 */
export function metricsUrlFromArgs(args: readonly string[]): string {
  const address = parseFlags(args).get("--http-address")?.at(-1) ?? "127.0.0.1:7071";
  const colon = address.lastIndexOf(":");
  let host = address.slice(0, colon);
  const port = address.slice(colon + 1);
  if (host === "" || host === "0.0.0.0" || host === "[::]" || host === "::") host = "127.0.0.1";
  return `http://${host}:${port}/metrics`;
}
