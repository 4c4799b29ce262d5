/**
 * What every custom-resource handler here shares with the CDK Provider framework: the longest
 * failure reason we hand to CloudFormation, and an Error that fits it.
 *
 * CloudFormation shows a few KiB of a resource's status reason and the Provider framework appends a
 * log-group line, so a handler's message is cut to {@link MAX_REASON_CHARS} characters; the stack is
 * reduced to one line so the framework's log of the error stays one readable line.
 */

/** Longest message a handler lets into CloudFormation's status reason, in characters. */
export const MAX_REASON_CHARS = 900;

/** What an onEvent handler returns to the Provider framework (Data values are strings: `Fn::GetAtt`). */
export interface ProviderResponse<D extends object = Record<string, string>> {
  readonly PhysicalResourceId: string;
  readonly Data?: D;
}

/** `text` cut to {@link MAX_REASON_CHARS} characters, with `...` where it was cut. */
export function clipReason(text: string): string {
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS - 3)}...` : text;
}

/**
 * An Error whose message is `e`'s (after `prefix: ` when given; runs of white space folded to one space
 * with `foldWhitespace`) cut to {@link MAX_REASON_CHARS}, and whose stack is that one line.
 */
export function shortError(e: unknown, o: { prefix?: string; foldWhitespace?: boolean } = {}): Error {
  let text = e instanceof Error ? e.message : String((e as Error)?.message ?? e);
  if (o.prefix) text = `${o.prefix}: ${text}`;
  if (o.foldWhitespace) text = text.replace(/\s+/g, ' ');
  const msg = clipReason(text);
  const err = new Error(msg);
  err.stack = `Error: ${msg}`;
  return err;
}
