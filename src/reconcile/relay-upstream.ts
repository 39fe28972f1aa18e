import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { renderFlags } from "../agent/flags.js";
import { ApplyError } from "../agent/runner.js";
import { errnoOrMessage } from "../core/errors.js";
import type { StoreConfig } from "../relation/types.js";
import type { RelayUpstream } from "../relay/relay.js";
import type { Secrets } from "../secrets.js";
import { goHostnameRefusal } from "../store/go-tls.js";
import { targetFromArgv } from "../store/target.js";
import { secureContextFor } from "../store/tls-context.js";

export interface UpstreamOptions {
  /** The agent's base args: its TLS, header and token flags apply to the store the relay reaches. */
  readonly baseArgs: readonly string[];
  /** The agent's environment (PARCA_BEARER_TOKEN, SSL_CERT_FILE…). */
  readonly env: NodeJS.ProcessEnv;
  readonly caFile?: string;
  readonly secrets: Secrets;
}

/**
 * The store as the relay reaches it for `config`: derived from the agent's argv exactly as the
 * check derives its target — the same token (one `authorization` header), extra headers, trust
 * roots, client certificate, server name and host-name rules. Throws ApplyError when a file it
 * names cannot be read: the relay then keeps the store it has.
 */
export async function relayUpstream(
  config: StoreConfig,
  options: UpstreamOptions,
): Promise<RelayUpstream> {
  const rendered = renderFlags(options.baseArgs, config, { tokenMode: "flag", stateDir: "/" });
  try {
    const target = await targetFromArgv(rendered.argv, options.env, rendered.unsetEnv);
    for (const token of target.tokens) options.secrets.add(token);
    const headers = Object.fromEntries(target.headers.map(([name, value]) => [name, value]));
    const upstream = {
      address: target.address,
      insecure: target.insecure,
      headers,
      ...(target.bearer ? { token: target.bearer } : {}),
    };
    if (target.insecure) return upstream;
    const secureContext = secureContextFor({
      ...(options.caFile ? { caFile: options.caFile } : {}),
      ...(target.clientCertFile ? { clientCertFile: target.clientCertFile } : {}),
      ...(target.clientKeyFile ? { clientKeyFile: target.clientKeyFile } : {}),
      env: options.env,
    });
    return {
      ...upstream,
      secureContext,
      // Go sends no SNI for an IP address; the certificate is still checked against it.
      ...(isIP(target.host) ? {} : { servername: target.host }),
      skipVerify: target.skipVerify,
      checkServerIdentity: (_host, cert) => {
        const refusal = goHostnameRefusal(target.host, new X509Certificate(cert.raw));
        return refusal ? new Error(`${target.host}: ${refusal.detail}`) : undefined;
      },
    };
  } catch (err) {
    throw new ApplyError(
      `cannot set up the relay's connection to ${config.address}: ${errnoOrMessage(err)}`,
      { cause: err },
    );
  }
}
