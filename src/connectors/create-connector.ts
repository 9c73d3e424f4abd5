import type { ConnectorConfig } from './connector-config.js';
import type { Connector } from './connector.js';
import { CursorFeed } from './cursor-feed.js';
import { EntityPoll, type EntitySource } from './entity-poll.js';

export type { EntitySource };

/** Connector factory: one implementation per kind (the config schema already rejects unknown kinds). */
export function createConnector(config: ConnectorConfig, entities: EntitySource): Connector {
  switch (config.kind) {
    case 'cursor-feed':
      return new CursorFeed(config);
    case 'entity-poll':
      return new EntityPoll(config, entities);
  }
}
