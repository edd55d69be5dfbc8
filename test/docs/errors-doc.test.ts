import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { ErrorCodes } from '../../lib/errors.js'

describe('docs/errors.md', () => {
  let documented: string[]
  before(async () => {
    const text = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8')
    documented = [...text.matchAll(/^### (ERR_CONNECT_[A-Z0-9_]+)\s*$/gm)].map((m) => m[1]!)
  })

  it('documents every error code the library defines', () => {
    const missing = Object.keys(ErrorCodes).filter((code) => !documented.includes(code))
    assert.deepEqual(missing, [], `codes without a section in docs/errors.md: ${missing.join(', ')}`)
  })

  it('documents no code the library lacks', () => {
    const extra = documented.filter((code) => !(code in ErrorCodes))
    assert.deepEqual(extra, [], `docs/errors.md documents unknown codes: ${extra.join(', ')}`)
  })

  it('documents each code once', () => {
    assert.equal(new Set(documented).size, documented.length)
  })
})
