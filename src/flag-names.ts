/** parca-agent's remote-store flags (PARCA.md §2): the vocabulary render and check share. */
export const FLAG_ADDRESS = "--remote-store-address";
export const FLAG_INSECURE = "--remote-store-insecure";
export const FLAG_TOKEN = "--remote-store-bearer-token";
export const FLAG_TOKEN_FILE = "--remote-store-bearer-token-file";
export const FLAG_HEADERS = "--remote-store-grpc-headers";
export const FLAG_SKIP_VERIFY = "--remote-store-insecure-skip-verify";
export const FLAG_CLIENT_CERT = "--remote-store-client-cert";
export const FLAG_CLIENT_KEY = "--remote-store-client-key";
/** The agent reads its token from this variable too. */
export const ENV_TOKEN = "PARCA_BEARER_TOKEN";
