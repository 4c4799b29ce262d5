-- Temporal main store for Aurora DSQL. Mirrors upstream schema/postgresql/v12/temporal 1.19
-- (go.temporal.io/server v1.31.2) table for table and column for column, in DSQL's dialect:
--   * 16-byte ids (namespace, run, tree, branch, host, Nexus endpoint) are UUID, not BYTEA:
--     DSQL cannot key on BYTEA. The dsql plugin sends and reads them as 16 raw bytes.
--   * variable-length byte keys (task_queue_id, chasm_path) are TEXT holding lower-case hex,
--     which keeps byte order under DSQL's C collation.
--   * buffered_events.id is a plain BIGINT the plugin assigns (max + 1 per run): no SERIAL.
--   * secondary indexes are CREATE INDEX ASYNC; one statement per DDL.
--   * nexus_endpoints_partition_status drops its CHECK (id = 0): the plugin only writes id 0.
--   * cluster_membership.rpc_port is INTEGER (upstream SMALLINT cannot hold ports above 32767).
-- Key sizes stay under DSQL's 1 KiB because the default dynamic config caps ids at 255 bytes.

CREATE TABLE IF NOT EXISTS namespaces(
  partition_id INTEGER NOT NULL,
  id UUID NOT NULL,
  name VARCHAR(255) UNIQUE NOT NULL,
  notification_version BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  is_global BOOLEAN NOT NULL,
  PRIMARY KEY(partition_id, id)
);

CREATE TABLE IF NOT EXISTS namespace_metadata (
  partition_id INTEGER NOT NULL,
  notification_version BIGINT NOT NULL,
  PRIMARY KEY(partition_id)
);

INSERT INTO namespace_metadata (partition_id, notification_version) VALUES (54321, 1) ON CONFLICT (partition_id) DO NOTHING;

CREATE TABLE IF NOT EXISTS shards (
  shard_id INTEGER NOT NULL,
  range_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (shard_id)
);

CREATE TABLE IF NOT EXISTS executions(
  shard_id INTEGER NOT NULL,
  namespace_id UUID NOT NULL,
  workflow_id VARCHAR(255) NOT NULL,
  run_id UUID NOT NULL,
  next_event_id BIGINT NOT NULL,
  last_write_version BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  state BYTEA NOT NULL,
  state_encoding VARCHAR(16) NOT NULL,
  db_record_version BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id)
);

CREATE TABLE IF NOT EXISTS current_executions(
  shard_id INTEGER NOT NULL,
  namespace_id UUID NOT NULL,
  workflow_id VARCHAR(255) NOT NULL,
  run_id UUID NOT NULL,
  create_request_id VARCHAR(255) NOT NULL,
  state INTEGER NOT NULL,
  status INTEGER NOT NULL,
  start_version BIGINT NOT NULL DEFAULT 0,
  start_time TIMESTAMP NULL,
  last_write_version BIGINT NOT NULL,
  data BYTEA NULL,
  data_encoding VARCHAR(16) NOT NULL DEFAULT '',
  PRIMARY KEY (shard_id, namespace_id, workflow_id)
);

CREATE TABLE IF NOT EXISTS current_chasm_executions(
  shard_id INTEGER NOT NULL,
  namespace_id UUID NOT NULL,
  business_id VARCHAR(255) NOT NULL,
  archetype_id BIGINT NOT NULL,
  run_id UUID NOT NULL,
  create_request_id VARCHAR(255) NOT NULL,
  state INTEGER NOT NULL,
  status INTEGER NOT NULL,
  start_version BIGINT NOT NULL DEFAULT 0,
  start_time TIMESTAMP NULL,
  last_write_version BIGINT NOT NULL,
  data BYTEA NULL,
  data_encoding VARCHAR(16) NOT NULL DEFAULT '',
  PRIMARY KEY (shard_id, namespace_id, business_id, archetype_id)
);

CREATE TABLE IF NOT EXISTS buffered_events (
  shard_id INTEGER NOT NULL,
  namespace_id UUID NOT NULL,
  workflow_id VARCHAR(255) NOT NULL,
  run_id UUID NOT NULL,
  id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, id)
);

CREATE TABLE IF NOT EXISTS tasks (
  range_hash BIGINT NOT NULL,
  task_queue_id TEXT NOT NULL,
  task_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (range_hash, task_queue_id, task_id)
);

CREATE TABLE IF NOT EXISTS task_queues (
  range_hash BIGINT NOT NULL,
  task_queue_id TEXT NOT NULL,
  range_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (range_hash, task_queue_id)
);

CREATE TABLE IF NOT EXISTS tasks_v2 (
  range_hash BIGINT NOT NULL,
  task_queue_id TEXT NOT NULL,
  pass BIGINT NOT NULL,
  task_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (range_hash, task_queue_id, pass, task_id)
);

CREATE TABLE IF NOT EXISTS task_queues_v2 (
  range_hash BIGINT NOT NULL,
  task_queue_id TEXT NOT NULL,
  range_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (range_hash, task_queue_id)
);

CREATE TABLE IF NOT EXISTS task_queue_user_data (
  namespace_id UUID NOT NULL,
  task_queue_name VARCHAR(255) NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  version BIGINT NOT NULL,
  PRIMARY KEY (namespace_id, task_queue_name)
);

CREATE TABLE IF NOT EXISTS build_id_to_task_queue (
  namespace_id UUID NOT NULL,
  build_id VARCHAR(255) NOT NULL,
  task_queue_name VARCHAR(255) NOT NULL,
  PRIMARY KEY (namespace_id, build_id, task_queue_name)
);

CREATE TABLE IF NOT EXISTS history_immediate_tasks(
  shard_id INTEGER NOT NULL,
  category_id INTEGER NOT NULL,
  task_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (shard_id, category_id, task_id)
);

CREATE TABLE IF NOT EXISTS history_scheduled_tasks (
  shard_id INTEGER NOT NULL,
  category_id INTEGER NOT NULL,
  visibility_timestamp TIMESTAMP NOT NULL,
  task_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (shard_id, category_id, visibility_timestamp, task_id)
);

CREATE TABLE IF NOT EXISTS transfer_tasks(
  shard_id INTEGER NOT NULL,
  task_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (shard_id, task_id)
);

CREATE TABLE IF NOT EXISTS timer_tasks (
  shard_id INTEGER NOT NULL,
  visibility_timestamp TIMESTAMP NOT NULL,
  task_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (shard_id, visibility_timestamp, task_id)
);

CREATE TABLE IF NOT EXISTS replication_tasks (
  shard_id INTEGER NOT NULL,
  task_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (shard_id, task_id)
);

CREATE TABLE IF NOT EXISTS replication_tasks_dlq (
  source_cluster_name VARCHAR(255) NOT NULL,
  shard_id INTEGER NOT NULL,
  task_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (source_cluster_name, shard_id, task_id)
);

CREATE TABLE IF NOT EXISTS visibility_tasks(
  shard_id INTEGER NOT NULL,
  task_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (shard_id, task_id)
);

CREATE TABLE IF NOT EXISTS activity_info_maps (
  shard_id INTEGER NOT NULL,
  namespace_id UUID NOT NULL,
  workflow_id VARCHAR(255) NOT NULL,
  run_id UUID NOT NULL,
  schedule_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16),
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, schedule_id)
);

CREATE TABLE IF NOT EXISTS timer_info_maps (
  shard_id INTEGER NOT NULL,
  namespace_id UUID NOT NULL,
  workflow_id VARCHAR(255) NOT NULL,
  run_id UUID NOT NULL,
  timer_id VARCHAR(255) NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16),
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, timer_id)
);

CREATE TABLE IF NOT EXISTS child_execution_info_maps (
  shard_id INTEGER NOT NULL,
  namespace_id UUID NOT NULL,
  workflow_id VARCHAR(255) NOT NULL,
  run_id UUID NOT NULL,
  initiated_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16),
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, initiated_id)
);

CREATE TABLE IF NOT EXISTS request_cancel_info_maps (
  shard_id INTEGER NOT NULL,
  namespace_id UUID NOT NULL,
  workflow_id VARCHAR(255) NOT NULL,
  run_id UUID NOT NULL,
  initiated_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16),
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, initiated_id)
);

CREATE TABLE IF NOT EXISTS signal_info_maps (
  shard_id INTEGER NOT NULL,
  namespace_id UUID NOT NULL,
  workflow_id VARCHAR(255) NOT NULL,
  run_id UUID NOT NULL,
  initiated_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16),
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, initiated_id)
);

CREATE TABLE IF NOT EXISTS signals_requested_sets (
  shard_id INTEGER NOT NULL,
  namespace_id UUID NOT NULL,
  workflow_id VARCHAR(255) NOT NULL,
  run_id UUID NOT NULL,
  signal_id VARCHAR(255) NOT NULL,
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, signal_id)
);

CREATE TABLE IF NOT EXISTS chasm_node_maps (
  shard_id INTEGER NOT NULL,
  namespace_id UUID NOT NULL,
  workflow_id VARCHAR(255) NOT NULL,
  run_id UUID NOT NULL,
  chasm_path TEXT NOT NULL,
  metadata BYTEA NOT NULL,
  metadata_encoding VARCHAR(16),
  data BYTEA,
  data_encoding VARCHAR(16),
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, chasm_path)
);

CREATE TABLE IF NOT EXISTS history_node (
  shard_id INTEGER NOT NULL,
  tree_id UUID NOT NULL,
  branch_id UUID NOT NULL,
  node_id BIGINT NOT NULL,
  txn_id BIGINT NOT NULL,
  prev_txn_id BIGINT NOT NULL DEFAULT 0,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (shard_id, tree_id, branch_id, node_id, txn_id)
);

CREATE TABLE IF NOT EXISTS history_tree (
  shard_id INTEGER NOT NULL,
  tree_id UUID NOT NULL,
  branch_id UUID NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (shard_id, tree_id, branch_id)
);

CREATE TABLE IF NOT EXISTS queue (
  queue_type INTEGER NOT NULL,
  message_id BIGINT NOT NULL,
  message_payload BYTEA NOT NULL,
  message_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY(queue_type, message_id)
);

CREATE TABLE IF NOT EXISTS queue_metadata (
  queue_type INTEGER NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  version BIGINT NOT NULL,
  PRIMARY KEY(queue_type)
);

CREATE TABLE IF NOT EXISTS cluster_metadata_info (
  metadata_partition INTEGER NOT NULL,
  cluster_name VARCHAR(255) NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  version BIGINT NOT NULL,
  PRIMARY KEY(metadata_partition, cluster_name)
);

CREATE TABLE IF NOT EXISTS cluster_membership (
  membership_partition INTEGER NOT NULL,
  host_id UUID NOT NULL,
  rpc_address VARCHAR(128) NOT NULL,
  rpc_port INTEGER NOT NULL,
  role SMALLINT NOT NULL,
  session_start TIMESTAMP DEFAULT '1970-01-01 00:00:01+00:00',
  last_heartbeat TIMESTAMP DEFAULT '1970-01-01 00:00:01+00:00',
  record_expiry TIMESTAMP DEFAULT '1970-01-01 00:00:01+00:00',
  PRIMARY KEY (membership_partition, host_id)
);

CREATE TABLE IF NOT EXISTS queues (
  queue_type INT NOT NULL,
  queue_name VARCHAR(255) NOT NULL,
  metadata_payload BYTEA NOT NULL,
  metadata_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (queue_type, queue_name)
);

CREATE TABLE IF NOT EXISTS queue_messages (
  queue_type INT NOT NULL,
  queue_name VARCHAR(255) NOT NULL,
  queue_partition BIGINT NOT NULL,
  message_id BIGINT NOT NULL,
  message_payload BYTEA NOT NULL,
  message_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (queue_type, queue_name, queue_partition, message_id)
);

CREATE TABLE IF NOT EXISTS nexus_endpoints (
  id UUID NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  version BIGINT NOT NULL,
  PRIMARY KEY (id)
);

CREATE TABLE IF NOT EXISTS nexus_endpoints_partition_status (
  id INT NOT NULL PRIMARY KEY DEFAULT 0,
  version BIGINT NOT NULL
);

CREATE UNIQUE INDEX ASYNC IF NOT EXISTS cm_idx_rolehost ON cluster_membership (role, host_id);

CREATE INDEX ASYNC IF NOT EXISTS cm_idx_rolelasthb ON cluster_membership (role, last_heartbeat);

CREATE INDEX ASYNC IF NOT EXISTS cm_idx_rpchost ON cluster_membership (rpc_address, role);

CREATE INDEX ASYNC IF NOT EXISTS cm_idx_lasthb ON cluster_membership (last_heartbeat);

CREATE INDEX ASYNC IF NOT EXISTS cm_idx_recordexpiry ON cluster_membership (record_expiry);
