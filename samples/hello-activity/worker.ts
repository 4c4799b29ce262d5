/**
 * The hello-activity worker: polls the sample task queue and runs `helloActivity` and `greet`.
 *
 *   TEMPORAL_ADDRESS=127.0.0.1:7233 npx tsx samples/hello-activity/worker.ts
 *
 * Stops cleanly on SIGINT/SIGTERM (the SDK's default shutdown signals).
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import * as activities from './activities';
import { connectionOptions, sampleSettings } from './config';

async function main(): Promise<void> {
  const settings = sampleSettings();
  const connection = await NativeConnection.connect(connectionOptions(settings));
  try {
    const worker = await Worker.create({
      connection,
      namespace: settings.namespace,
      taskQueue: settings.taskQueue,
      workflowsPath: require.resolve('./workflows'),
      activities,
    });
    console.log(`worker polling task queue '${settings.taskQueue}' on ${settings.address} (namespace ${settings.namespace})`);
    await worker.run();
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
