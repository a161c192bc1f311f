/**
 * Version of this SDK, sent to the proxy in `ServiceInfo.support_library_version`. Kept equal to
 * the `version` in package.json (a test checks it).
 */
export const SDK_VERSION = "0.1.0";

/** Name of this SDK, sent to the proxy in `ServiceInfo.support_library_name`. */
export const SDK_NAME = "switchboard-typescript-sdk";
