/**
 * Workflow of the namespace suite (test/e2e/namespaces.test.ts), in a file of its own so its worker
 * bundles only this. Runs in the workflow sandbox (import only @temporalio/workflow, @temporalio/common and types).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { upsertSearchAttributes } from '@temporalio/workflow';

/** Keyword search attribute the suite configures. */
export const CUSTOMER_ID = defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD);
/** Double search attribute the suite configures. */
export const ORDER_TOTAL = defineSearchAttributeKey('OrderTotal', SearchAttributeType.DOUBLE);

/**
 * Upserts `CustomerId = customerId` and `OrderTotal = total` on itself and returns them as
 * `"<customerId>/<total>"`: the attributes reach visibility through the upsert, not the start request.
 */
export async function upsertOrderAttributes(customerId: string, total: number): Promise<string> {
  upsertSearchAttributes([
    { key: CUSTOMER_ID, value: customerId },
    { key: ORDER_TOTAL, value: total },
  ]);
  return `${customerId}/${total}`;
}
