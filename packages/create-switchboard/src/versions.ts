/**
 * Version ranges a new project gets: the Switchboard packages of this release, and the tools
 * this repository builds and tests with (a test keeps them equal to the workspace's).
 */
export const VERSIONS: Readonly<Record<string, string>> = Object.freeze({
  switchboardRange: "^0.1.0",
  protobufRange: "^2.13.0",
  bufRange: "^1.75.0",
  typesNodeRange: "^20.19.43",
  tsxRange: "^4.23.15",
  typescriptRange: "^5.9.3",
});
