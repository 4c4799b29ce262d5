/** The archival bucket for upstream's S3 archiver and the `archival` config section. */
export * from './archival';
export * from './config';
