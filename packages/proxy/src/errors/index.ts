export { Code, codeName } from "./code.js";
export { httpStatusFor } from "./http-status.js";
export { SwitchboardError, type SwitchboardErrorOptions } from "./switchboard-error.js";
