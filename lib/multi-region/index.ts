export * from './config';
export * from './cluster-stack';
export * from './standby';
