/**
 * TLS on the connection to the user function: for a user function that is not on the
 * same host (or not on a trusted network). Off by default: beside the proxy, on
 * loopback, plaintext HTTP/2 is what the Cloudstate language supports serve.
 */
export interface UserFunctionTlsConfig {
  /** PEM file of the CA(s) the user function's certificate must chain to (undefined: the system's roots). */
  readonly caPath: string | undefined;
  /** PEM client certificate and key, for a user function that requires client certificates (mTLS). */
  readonly certPath: string | undefined;
  readonly keyPath: string | undefined;
  /** The name the certificate must carry (default: the user-function host). */
  readonly serverName: string | undefined;
}

/** The flags of {@link parseUserFunctionTls}, for `parseArgs`. */
export const USER_FUNCTION_TLS_OPTIONS = {
  "user-function-tls": { type: "boolean" },
  "user-function-tls-ca": { type: "string" },
  "user-function-tls-cert": { type: "string" },
  "user-function-tls-key": { type: "string" },
  "user-function-tls-server-name": { type: "string" },
} as const;

/** Help lines of the user-function TLS flags. */
export const USER_FUNCTION_TLS_HELP = `  --user-function-tls           connect to the user function over TLS  env USER_FUNCTION_TLS=true
  --user-function-tls-ca <file> trust this PEM CA for it (implies TLS; default: system roots)
                                env USER_FUNCTION_TLS_CA
  --user-function-tls-cert <file>  client certificate (mTLS)   env USER_FUNCTION_TLS_CERT
  --user-function-tls-key <file>   ... and its private key      env USER_FUNCTION_TLS_KEY
  --user-function-tls-server-name <name>  name its certificate must carry (default: the host)
                                env USER_FUNCTION_TLS_SERVER_NAME
`;

type Values = {
  readonly [K in keyof typeof USER_FUNCTION_TLS_OPTIONS]?: (typeof USER_FUNCTION_TLS_OPTIONS)[K]["type"] extends "boolean" ? boolean : string;
};

/**
 * Parses the user-function TLS flags (flag > environment): undefined when TLS is off,
 * a string when they are wrong. A CA, a client certificate or a server name turns TLS on.
 */
export function parseUserFunctionTls(
  values: Values,
  pick: (flag: string | undefined, envName: string) => string | undefined,
): UserFunctionTlsConfig | undefined | string {
  const flag = values["user-function-tls"] === true;
  const env = pick(undefined, "USER_FUNCTION_TLS");
  if (env !== undefined && !/^(true|1|yes|false|0|no)$/i.test(env)) return `USER_FUNCTION_TLS must be true or false, got "${env}"`;
  const caPath = pick(values["user-function-tls-ca"], "USER_FUNCTION_TLS_CA");
  const certPath = pick(values["user-function-tls-cert"], "USER_FUNCTION_TLS_CERT");
  const keyPath = pick(values["user-function-tls-key"], "USER_FUNCTION_TLS_KEY");
  const serverName = pick(values["user-function-tls-server-name"], "USER_FUNCTION_TLS_SERVER_NAME");
  if ((certPath === undefined) !== (keyPath === undefined)) {
    return "--user-function-tls-cert and --user-function-tls-key go together: give both or neither";
  }
  const on = flag || /^(true|1|yes)$/i.test(env ?? "") || caPath !== undefined || certPath !== undefined || serverName !== undefined;
  if (!on) return undefined;
  return { caPath, certPath, keyPath, serverName };
}
