import assert from 'node:assert/strict'
import { parseAgentAddress } from '../../lib/agent/address.js'

describe('parseAgentAddress', () => {
  describe('#accepted forms', () => {
    const table: Array<[input: string, tls: boolean, origin: string, socketPath?: string]> = [
      ['127.0.0.1:8500', false, 'http://127.0.0.1:8500'],
      ['127.0.0.1:8501', true, 'https://127.0.0.1:8501'],
      ['consul.local', false, 'http://consul.local:8500'],
      ['consul.local', true, 'https://consul.local:8501'],
      ['Consul.Local:80', false, 'http://consul.local:80'],
      ['http://10.0.0.5:8500', false, 'http://10.0.0.5:8500'],
      ['http://10.0.0.5:8500/', false, 'http://10.0.0.5:8500'],
      // TLS requested: an http:// address is never downgraded (Consul's Go client does the same).
      ['http://10.0.0.5:8500', true, 'https://10.0.0.5:8500'],
      ['https://consul.local:8501', false, 'https://consul.local:8501'],
      ['https://consul.local', false, 'https://consul.local:443'],
      ['http://consul.local', false, 'http://consul.local:80'],
      ['[::1]:8500', false, 'http://[::1]:8500'],
      ['http://[::1]:8500', false, 'http://[::1]:8500'],
      ['https://[fe80::1]:8501', false, 'https://[fe80::1]:8501'],
      ['  127.0.0.1:8500  ', false, 'http://127.0.0.1:8500'],
      ['unix:///run/consul/http.sock', false, 'http://localhost', '/run/consul/http.sock'],
      ['unix:///run/consul/http.sock', true, 'https://localhost', '/run/consul/http.sock'],
      ['UNIX://relative.sock', false, 'http://localhost', 'relative.sock']
    ]
    for (const [input, tls, origin, socketPath] of table) {
      it(`reads ${JSON.stringify(input)}${tls ? ' with TLS' : ''} as ${origin}${socketPath === undefined ? '' : ` over ${socketPath}`}`, () => {
        const address = parseAgentAddress(input, tls)
        assert.equal(address.origin, origin)
        assert.equal(address.secure, origin.startsWith('https:'))
        if (socketPath === undefined) assert.equal(address.kind, 'tcp')
        else assert.deepEqual([address.kind, address.kind === 'unix' ? address.socketPath : ''], ['unix', socketPath])
        assert.ok(Object.isFrozen(address))
      })
    }
  })

  describe('#refused forms', () => {
    const table: Array<[input: string, reason: RegExp]> = [
      ['', /empty/],
      ['   ', /empty/],
      ['unix://', /no socket path/],
      ['ftp://h:21', /scheme "ftp"/],
      ['::1:8500', /IPv6 address without brackets/],
      ['http://user:secret@h:8500', /credentials/],
      ['h:8500/v1', /path, query or fragment/],
      ['http://h:8500/?token=x', /path, query or fragment/],
      ['h:0', /outside 1-65535/],
      ['h:65536', /outside 1-65535/],
      ['h:', /is not host:port/],
      [':8500', /names no host/]
    ]
    for (const [input, reason] of table) {
      it(`throws for ${JSON.stringify(input)}`, () => {
        assert.throws(() => parseAgentAddress(input), (err: Error) => {
          assert.ok(err instanceof RangeError)
          assert.match(err.message, reason)
          assert.doesNotMatch(err.message, /secret/)
          return true
        })
      })
    }
  })
})
