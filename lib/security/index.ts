/** TLS certificates (custom resource), frontend authorization and the DSQL resource policy, and the `security` and `ui` config sections. */
export * from './certificates';
export * from './temporal-auth';
export * from './config';
