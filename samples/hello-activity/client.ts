/**
 * The hello-activity client: starts one `helloActivity` workflow, waits for it and prints the result.
 *
 *   TEMPORAL_ADDRESS=127.0.0.1:7233 npx tsx samples/hello-activity/client.ts [name]
 */
import { Client, Connection } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { connectionOptions, sampleSettings } from './config';
import { helloActivity } from './workflows';

async function main(): Promise<void> {
  const settings = sampleSettings();
  const name = process.argv[2] ?? 'Temporal on DSQL';
  const connection = await Connection.connect(connectionOptions(settings));
  try {
    const client = new Client({ connection, namespace: settings.namespace });
    const handle = await client.workflow.start(helloActivity, {
      taskQueue: settings.taskQueue,
      workflowId: `hello-activity-${randomUUID()}`,
      args: [name],
    });
    console.log(`started workflow ${handle.workflowId} (run ${handle.firstExecutionRunId})`);
    console.log(await handle.result());
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
