/** An active entity as the cap sees it. */
export interface ActiveEntity {
  /** Whether nothing is under way (only idle entities are passivated to make room). */
  readonly idle: boolean;
  /** Passivates gracefully. */
  passivate(): Promise<void>;
}

/**
 * The active entities of a proxy, across every service, in order of last use. Over the
 * cap, the least recently used idle entities are passivated to make room; busy ones are
 * never cut off, so the count may exceed the cap while all of them are busy.
 */
export interface ActiveEntities {
  /** A new entity was activated. */
  add(entity: ActiveEntity): void;
  /** The entity took or answered a command. */
  touch(entity: ActiveEntity): void;
  /** The entity is no longer active. */
  remove(entity: ActiveEntity): void;
  readonly count: number;
  /** The cap (undefined: none). */
  readonly max: number | undefined;
}

/** Tracks active entities; `max` undefined means no cap. */
export function createActiveEntities(max?: number): ActiveEntities {
  const entities = new Set<ActiveEntity>();
  const evict = (keep: ActiveEntity) => {
    if (max === undefined) return;
    let over = entities.size - max;
    if (over <= 0) return;
    for (const entity of entities) {
      if (over <= 0) break;
      if (entity === keep || !entity.idle) continue;
      // Forgotten now, so it is not chosen twice; its session retires itself too.
      entities.delete(entity);
      over--;
      void entity.passivate();
    }
  };
  return {
    add(entity) {
      entities.add(entity);
      evict(entity);
    },
    touch(entity) {
      if (!entities.delete(entity)) return;
      entities.add(entity);
    },
    remove(entity) {
      entities.delete(entity);
    },
    get count() {
      return entities.size;
    },
    max,
  };
}
