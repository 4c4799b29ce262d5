/** The OpenSearch visibility domain, the visibility index custom resource, and the `opensearch` config section. */
export * from './visibility-domain';
export * from './visibility-index';
export * from './config';
