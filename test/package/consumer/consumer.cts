// A CommonJS consumer on any supported Node: the package is ESM-only, so CommonJS loads it with import().
import type { Decision } from 'consul-connect-native'

async function main (): Promise<void> {
  const { ConnectError, Intentions, parseSpiffeId } = await import('consul-connect-native')
  const { TestCA } = await import('consul-connect-native/testing')
  const ca = await TestCA.create()
  const leaf = await ca.issueLeaf({ service: 'web' })
  const rules = new Intentions([{ SourceName: '*', Action: 'deny' }], { destination: 'db', defaultAllow: true })
  const decision: Decision = rules.decide({ source: parseSpiffeId(leaf.spiffeId) })
  if (decision.allowed) throw new Error(`expected a deny: ${decision.reason}`)
  try {
    parseSpiffeId('spiffe://')
    throw new Error('expected parseSpiffeId to throw')
  } catch (err) {
    if (!(err instanceof ConnectError)) throw err
  }
  console.log('OK cjs import()')
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
