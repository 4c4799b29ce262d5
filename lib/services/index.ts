/** The ECS cluster and the Fargate services (four Temporal roles and the UI), their scaling, the server image, the dynamic config and the history cache bound, read-only containers (writable paths, users), the role names, and the service config sections. */
export * from './temporal-services';
export * from './scaling';
export * from './server-image';
export * from './dynamic-config';
export * from './history-cache';
export * from './roles';
export * from './config';
export * from './read-only';
