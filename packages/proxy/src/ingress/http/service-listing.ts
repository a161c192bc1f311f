import type { ServiceModel } from "../../descriptors/service-model.js";

/** Where the running proxy lists what it serves (`switchboard list` reads it). */
export const SERVICE_LISTING_PATH = "/_switchboard/services";

/** One method of a listed service. */
export interface ListedMethod {
  readonly name: string;
  /** `unary`, `server_streaming`, `client_streaming` or `bidi_streaming`. */
  readonly kind: string;
  /** HTTP routes, as `VERB /template` (the default `POST /<package.Service>/<Method>` last). */
  readonly http: readonly string[];
}

/** One service of the listing. */
export interface ListedService {
  readonly name: string;
  /** `action`, `value-entity`, `event-sourced` or `crdt`. */
  readonly kind: string;
  readonly persistenceId: string;
  readonly methods: readonly ListedMethod[];
}

/** The services of a model, their methods, entity kinds and HTTP routes, for `GET /_switchboard/services`. */
export function listServices(model: ServiceModel): ListedService[] {
  return [...model.services.values()].map((service) => ({
    name: service.name,
    kind: service.kind,
    persistenceId: service.persistenceId,
    methods: [...service.methods.values()].map((method) => ({
      name: method.name,
      kind: method.kind,
      http: model.httpRules.filter((rule) => rule.method === method).map((rule) => `${rule.httpMethod} ${rule.template.text}`),
    })),
  }));
}

/** Edit distance between two names (case-insensitive), for suggestions. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let previous = Array.from({ length: y.length + 1 }, (_, i) => i);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[y.length] ?? 0;
}

/** How many edits a typo of `name` may take. */
function typoBudget(name: string): number {
  return Math.max(2, Math.floor(name.length / 4));
}

/**
 * The served `package.Service/Method` names nearest to `requested` (itself
 * `package.Service/Method`): at most three, closest first, only those a typo in the method or
 * the service name, or a wrong package, could explain.
 */
export function nearestMethodNames(model: ServiceModel, requested: string): string[] {
  const slash = requested.indexOf("/");
  const wantedService = slash < 0 ? "" : requested.slice(0, slash);
  const wantedMethod = slash < 0 ? requested : requested.slice(slash + 1);
  const wantedShort = wantedService.slice(wantedService.lastIndexOf(".") + 1);
  const scored: { name: string; score: number }[] = [];
  for (const service of model.services.values()) {
    const short = service.name.slice(service.name.lastIndexOf(".") + 1);
    const serviceScore = wantedService === "" ? 0 : Math.min(distance(wantedService, service.name), distance(wantedShort, short));
    if (serviceScore > typoBudget(short)) continue;
    for (const method of service.methods.values()) {
      const methodScore = distance(wantedMethod, method.name);
      if (methodScore <= typoBudget(method.name)) scored.push({ name: `${service.name}/${method.name}`, score: serviceScore + methodScore });
    }
  }
  return scored
    .sort((a, b) => a.score - b.score || a.name.localeCompare(b.name))
    .slice(0, 3)
    .map((s) => s.name);
}
