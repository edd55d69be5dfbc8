/**
 * Eager option validation: runs a zod schema and turns its first failure into an InvalidOptionError
 * whose `field` is the dotted path of the offending option (`agent.tls.caFile`).
 */
import type { z } from 'zod'
import { InvalidOptionError } from '../errors.js'

/**
 * Parses `value` with `schema`. On failure throws InvalidOptionError for the first issue; `prefix` is
 * prepended to the issue's path (`agent` + `address` → `agent.address`). Messages never quote the input,
 * so a mistyped token does not end up in logs.
 */
export function parseOptions<S extends z.ZodType> (schema: S, value: unknown, prefix: string): z.output<S> {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  if (issue === undefined) throw new InvalidOptionError(prefix, 'is invalid', { cause: result.error })
  let path = issue.path.map(String)
  let message = issue.message
  if (issue.code === 'unrecognized_keys') {
    // Name the unknown key itself: `agent.adress`, not `agent`.
    path = [...path, issue.keys[0] ?? '']
    message = 'is not a known option'
  }
  const field = [prefix, ...path].filter((part) => part !== '').join('.')
  throw new InvalidOptionError(field, message, { cause: result.error })
}
