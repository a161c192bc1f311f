import type { UserFunctionClient } from "../user-function/client.js";
import type { Tracer } from "./tracer.js";

/** The user-function client with each unary exchange (Action calls) as a child span of the active call. */
export function traceUserFunctionClient(client: UserFunctionClient, tracer: Tracer): UserFunctionClient {
  if (!tracer.enabled) return client;
  return new Proxy(client, {
    get(target, property) {
      if (property === "unary") {
        const unary: UserFunctionClient["unary"] = (method, request, options) => {
          // Action commands name the user's service and method; other exchanges are named by their protocol method.
          const command = request as { serviceName?: unknown; name?: unknown };
          const name =
            typeof command.serviceName === "string" && typeof command.name === "string"
              ? `${command.serviceName}/${command.name}`
              : `${method.parent.typeName}/${method.name}`;
          return tracer.step(`user-function ${name}`, { "rpc.service": method.parent.typeName, "rpc.method": method.name }, () =>
            target.unary(method, request, options),
          );
        };
        return unary;
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
