import { connect as netConnect, type Socket } from "node:net";
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from "node:tls";

/** The HTTP/2 client connection preface followed by an empty SETTINGS frame. */
const H2_PREFACE = Buffer.concat([
  Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
]);
const FRAME_SETTINGS = 4;

/** Settles once: with the probe's answer, or `false` when the time runs out. */
function probe<T extends Socket>(
  timeoutMs: number,
  open: () => T,
  wire: (socket: T, done: (answer: boolean) => void) => void,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = open();
    const timer = setTimeout(() => done(false), Math.max(0, timeoutMs));
    function done(answer: boolean) {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    }
    socket.on("error", () => done(false));
    socket.on("close", () => done(false));
    wire(socket, done);
  });
}

/** A TLS connection to ip:port that verifies nothing: these probes only see what answers. */
function unverifiedTls(
  ip: string,
  port: number,
  servername: string | undefined,
  options: ConnectionOptions,
): TLSSocket {
  return tlsConnect({
    host: ip,
    port,
    ...(servername ? { servername } : {}),
    ...options,
    rejectUnauthorized: false,
  });
}

/** Whether a TLS server answers at ip:port (any version, any certificate). */
export function answersTls(
  ip: string,
  port: number,
  servername: string | undefined,
  timeoutMs: number,
) {
  return probe(
    timeoutMs,
    () => unverifiedTls(ip, port, servername, { ALPNProtocols: ["h2", "http/1.1"] }),
    (socket: TLSSocket, done) => socket.on("secureConnect", () => done(true)),
  );
}

/** Whether a plaintext HTTP/2 (h2c) server answers at ip:port with a SETTINGS frame. */
export function answersPlaintextH2(ip: string, port: number, timeoutMs: number) {
  return probe(
    timeoutMs,
    () => netConnect({ host: ip, port }),
    (socket, done) => {
      let seen = Buffer.alloc(0);
      socket.on("connect", () => socket.write(H2_PREFACE));
      socket.on("data", (chunk: Buffer) => {
        seen = Buffer.concat([seen, chunk]);
        if (seen.length >= 9) done(seen[3] === FRAME_SETTINGS);
      });
    },
  );
}

const ALL_TLS13_SUITES = [
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "TLS_AES_128_CCM_SHA256",
  "TLS_AES_128_CCM_8_SHA256",
].join(":");

/** What a TLS 1.3 handshake with OpenSSL's defaults negotiated, no certificate verified. */
export interface DefaultHandshake {
  readonly peer: ReturnType<TLSSocket["getPeerCertificate"]>;
  /** The key-exchange group as Node names it (X25519, prime256v1, X448, ffdhe2048…). */
  readonly group: string | undefined;
  readonly suite: string;
}

/** A TLS 1.3 handshake with OpenSSL's defaults at ip:port, to see what the server wants. */
export function handshakeWithDefaults(
  ip: string,
  port: number,
  servername: string | undefined,
  timeoutMs: number,
): Promise<DefaultHandshake | undefined> {
  let seen: DefaultHandshake | undefined;
  return probe(
    timeoutMs,
    () =>
      unverifiedTls(ip, port, servername, {
        minVersion: "TLSv1.3",
        // Every TLS 1.3 suite OpenSSL knows, CCM included (not in its defaults).
        ciphers: ALL_TLS13_SUITES,
        ALPNProtocols: ["h2"],
      }),
    (socket: TLSSocket, done) =>
      socket.on("secureConnect", () => {
        const key = socket.getEphemeralKeyInfo() as { name?: string; type?: string } | null;
        const group = key?.name ?? key?.type;
        seen = {
          peer: socket.getPeerCertificate(true),
          group: group || undefined,
          suite: socket.getCipher().standardName,
        };
        done(true);
      }),
  ).then(() => seen);
}

/**
 * The certificate a server presents over TLS 1.2, where it still speaks it. Node 20's OpenSSL
 * (3.0) has no TLS 1.3 signature scheme for brainpool keys (Node 22's, 3.5, has), so a TLS 1.3
 * handshake with such a server fails before its certificate is seen.
 */
export function certificateOverTls12(
  ip: string,
  port: number,
  servername: string | undefined,
  timeoutMs: number,
): Promise<DefaultHandshake["peer"] | undefined> {
  let peer: DefaultHandshake["peer"] | undefined;
  return probe(
    timeoutMs,
    () =>
      unverifiedTls(ip, port, servername, {
        minVersion: "TLSv1.2",
        maxVersion: "TLSv1.2",
        ecdhCurve: "X25519:P-256:P-384:P-521:brainpoolP256r1:brainpoolP384r1:brainpoolP512r1",
      }),
    (socket: TLSSocket, done) =>
      socket.on("secureConnect", () => {
        peer = socket.getPeerCertificate(true);
        done(true);
      }),
  ).then(() => peer);
}

/** Whether an HTTP/1.x server answers the HTTP/2 preface at ip:port (with 400, typically). */
export function answersHttp1(ip: string, port: number, timeoutMs: number) {
  return probe(
    timeoutMs,
    () => netConnect({ host: ip, port }),
    (socket, done) => {
      let seen = "";
      socket.on("connect", () => socket.write(H2_PREFACE));
      socket.on("data", (chunk: Buffer) => {
        seen += chunk.toString("latin1");
        if (seen.length >= 7) done(seen.startsWith("HTTP/1."));
      });
    },
  );
}
