/**
 * Definition checks shared by the stateful entity kinds.
 *
 * @module
 */
import type { DescService } from "@bufbuild/protobuf";
import { hasOption } from "@bufbuild/protobuf";
import { entity_key, legacy_entity_key } from "@switchboard/protocol";

/** Checks `persistenceId` is a non-empty string. */
export function checkPersistenceId(what: string, persistenceId: unknown): void {
  if (typeof persistenceId !== "string" || persistenceId === "") {
    throw new Error(`${what}: persistenceId must be a non-empty string`);
  }
}

/** Checks an optional passivation timeout is a positive integer number of milliseconds. */
export function checkPassivationTimeout(what: string, passivationTimeoutMs: number | undefined): void {
  if (passivationTimeoutMs !== undefined && !(Number.isSafeInteger(passivationTimeoutMs) && passivationTimeoutMs > 0)) {
    throw new Error(`${what}: passivationTimeoutMs must be a positive integer, got ${passivationTimeoutMs}`);
  }
}

/**
 * Checks every method of `service` has an allowed streaming shape and an input with an entity key
 * field (`[(cloudstate.entity_key) = true]`), as the proxy's discovery requires (docs/protocol.md#discovery).
 */
export function checkEntityMethods(what: string, service: DescService, kindName: string, allowed: readonly string[]): void {
  // Shapes first: a wrong shape says more about a wrong entity kind than a missing key does.
  for (const method of service.methods) {
    if (!allowed.includes(method.methodKind)) {
      throw new Error(`${what}: ${method.name} is ${method.methodKind}; ${kindName} methods must be ${allowed.join(" or ")}`);
    }
  }
  for (const method of service.methods) {
    const hasKey = method.input.fields.some((f) => hasOption(f, entity_key) || hasOption(f, legacy_entity_key));
    if (!hasKey) {
      throw new Error(
        `${what}: the input of ${method.name}, ${method.input.typeName}, has no entity key field; mark one with [(cloudstate.entity_key) = true]`,
      );
    }
  }
}
