/** The VPC the platform runs in (new or imported), its endpoints and flow logs, and the `network` config section. */
export * from './network';
export * from './config';
