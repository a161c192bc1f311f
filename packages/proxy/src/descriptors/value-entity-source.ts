import { type DescMethod, getOption, hasOption } from "@bufbuild/protobuf";
import { switchboardEventing } from "@switchboard/protocol";

/** A method's `(switchboard.eventing).in`: the value entity whose changes it consumes. */
export interface ValueEntitySource {
  /** The persistence id of the value entities. */
  readonly persistenceId: string;
  /** `consumer_group`, empty when unset. */
  readonly consumerGroup: string;
}

/**
 * The value entity a method consumes the changes of, from Switchboard's own option
 * `(switchboard.eventing).in.value_entity` (not part of protocol 0.2), or undefined when
 * the method has no `in`. An `in` without a value entity has an empty `persistenceId`
 * (the model refuses it).
 */
export function valueEntitySourceOf(method: DescMethod): ValueEntitySource | undefined {
  if (!hasOption(method, switchboardEventing.eventing)) return undefined;
  const source = getOption(method, switchboardEventing.eventing).in;
  if (source === undefined) return undefined;
  return { persistenceId: source.valueEntity, consumerGroup: source.consumerGroup };
}
