/** The Switchboard version, reported in ProxyInfo and by `switchboard --version`. */
export const PROXY_VERSION = "0.1.0";
