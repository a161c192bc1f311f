import type { ServiceModel } from "../descriptors/service-model.js";
import { weightOf } from "./rendezvous.js";

/**
 * A short fingerprint of the services a user function offers, as far as the cluster
 * cares: each service's name, kind and persistence id, and its methods with their
 * input and output types. Members publish it with their heartbeat; nodes whose
 * fingerprints differ would route the same call differently, so a node that disagrees
 * with the cluster takes no shards and stays not ready.
 */
export function servicesFingerprint(model: ServiceModel): string {
  return fingerprintOf(servicesDescription(model));
}

/** The canonical text the fingerprint is taken of (one line per method, sorted). */
export function servicesDescription(model: ServiceModel): string {
  const lines: string[] = [];
  for (const service of model.services.values()) {
    const persistenceId = service.persistenceId;
    for (const method of service.methods.values()) {
      // Consuming value-entity changes decides what the entity's writes record and what
      // consumers prune, so nodes must agree on it (the line is unchanged without the option).
      const source = method.valueEntitySource;
      const consumes =
        source === undefined ? "" : ` consumes value-entity ${JSON.stringify(source.persistenceId)} group ${JSON.stringify(source.consumerGroup)}`;
      lines.push(`${service.name} ${service.kind} ${persistenceId} ${method.name} ${method.input.typeName} ${method.output.typeName}${consumes}`);
    }
    if (service.methods.size === 0) lines.push(`${service.name} ${service.kind} ${persistenceId}`);
  }
  return lines.sort().join("\n");
}

/** 64 bits as 16 hex digits: two independent 32-bit hashes of `text`. */
function fingerprintOf(text: string): string {
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  return `${hex(weightOf("services-a", text))}${hex(weightOf("services-b", text))}`;
}
