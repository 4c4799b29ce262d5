/** The namespaces custom resource and the `namespaces`, `searchAttributes` and `namespaceAdmin` config sections. */
export * from './namespaces';
export * from './config';
