// Real ingresses from Debian's packages in front of the test store: nginx 1.22 (`listen … ssl
// http2`, `grpc_pass`, as Canonical's Parca charm fronts the store) and Caddy 2.6 (Go's TLS on
// the server side). Each runs in the foreground from a config the test writes, in its own
// process group, and is stopped with it.
import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import type { Issued } from "./certs.js";
import { waitFor } from "./procs.js";

export interface Ingress {
  readonly address: string;
  readonly output: () => string;
  stop(): Promise<void>;
}

/** A port free now on 127.0.0.1 (nginx and Caddy cannot report a port 0 they bound). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Runs a server in the foreground, in its own process group, until it accepts on 127.0.0.1:port;
 * `stop` kills the group. Its output is kept.
 */
export async function runListening(
  command: string,
  args: string[],
  port: number,
  env: NodeJS.ProcessEnv = {},
): Promise<Ingress> {
  const child: ChildProcess = spawn(command, args, {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env.PATH, ...env },
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d;
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d;
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    process.kill(-(child.pid as number), "SIGKILL");
    await exited;
  };
  try {
    await waitFor(`${command} to listen on ${port}`, async () => {
      if (child.exitCode !== null)
        throw new Error(`${command} exited ${child.exitCode}: ${output}`);
      return accepts(port);
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { address: `localhost:${port}`, output: () => output, stop };
}

export interface NginxOptions {
  readonly dir: string;
  readonly leaf: Issued;
  /** `ssl_protocols`; omitted from the config when undefined (1.22's default has no TLS 1.3). */
  readonly sslProtocols?: string;
  /** The body of `location / { … }`; e.g. `grpc_pass grpc://127.0.0.1:7070;`. */
  readonly root: string;
  /** More `location` blocks. */
  readonly locations?: string;
}

export async function startNginx(options: NginxOptions): Promise<Ingress> {
  const { dir } = options;
  const port = await freePort();
  await writeFile(join(dir, "nginx.crt"), options.leaf.certPem);
  await writeFile(join(dir, "nginx.key"), options.leaf.keyPem);
  const conf = join(dir, "nginx.conf");
  const asRoot = process.getuid?.() === 0;
  await writeFile(
    conf,
    `${asRoot ? "user root;\n" : ""}worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${dir}/nginx.crt;
    ssl_certificate_key ${dir}/nginx.key;
${options.sslProtocols ? `    ssl_protocols ${options.sslProtocols};\n` : ""}    location / { ${options.root} }
${options.locations ?? ""}
  }
}
`,
  );
  return runListening("nginx", ["-e", "stderr", "-p", dir, "-c", conf], port);
}

export interface CaddyOptions {
  readonly dir: string;
  readonly leaf: Issued;
  /** Where Caddy proxies to, over h2c: `127.0.0.1:PORT`. */
  readonly upstream: string;
}

/** Caddy with admin and automatic HTTPS off and a certificate from a file (never `tls internal`). */
export async function startCaddy(options: CaddyOptions): Promise<Ingress> {
  const { dir } = options;
  const port = await freePort();
  await writeFile(join(dir, "caddy.crt"), options.leaf.certPem);
  await writeFile(join(dir, "caddy.key"), options.leaf.keyPem);
  const config = {
    admin: { disabled: true },
    logging: { logs: { default: { level: "ERROR" } } },
    storage: { module: "file_system", root: join(dir, "caddy-data") },
    apps: {
      tls: {
        certificates: {
          load_files: [
            { certificate: join(dir, "caddy.crt"), key: join(dir, "caddy.key"), tags: ["test"] },
          ],
        },
      },
      http: {
        servers: {
          store: {
            listen: [`127.0.0.1:${port}`],
            automatic_https: { disable: true },
            tls_connection_policies: [{ certificate_selection: { any_tag: ["test"] } }],
            routes: [
              {
                handle: [
                  {
                    handler: "reverse_proxy",
                    transport: { protocol: "http", versions: ["h2c"] },
                    upstreams: [{ dial: options.upstream }],
                  },
                ],
              },
            ],
          },
        },
      },
    },
  };
  const file = join(dir, "caddy.json");
  await writeFile(file, JSON.stringify(config));
  const env = { HOME: dir, XDG_DATA_HOME: join(dir, "data"), XDG_CONFIG_HOME: join(dir, "config") };
  return runListening("caddy", ["run", "--config", file], port, env);
}
