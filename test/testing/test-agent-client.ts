/**
 * A tiny HTTP client for the TestAgent tests: one request, the whole answer read. Uses a fresh
 * connection per request (no pool), so closing an agent never leaves a pooled socket behind.
 */
import { request } from 'node:http'
import type { TestAgent } from '../../lib/testing/index.js'

export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly text: string
  /** The `X-Consul-Index` header as a number. */
  readonly index: number
  json<T = any>(): T // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface CallOptions {
  readonly method?: string
  /** Sent as JSON unless a string. */
  readonly body?: unknown
  /** Sent as `X-Consul-Token`. */
  readonly token?: string
  readonly headers?: Readonly<Record<string, string>>
  readonly signal?: AbortSignal
}

export async function call (agent: TestAgent, path: string, options: CallOptions = {}): Promise<Answer> {
  const body = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body)
  return new Promise<Answer>((resolve, reject) => {
    const req = request(`${agent.url}${path}`, {
      method: options.method ?? 'GET',
      agent: false,
      headers: { ...(options.token === undefined ? {} : { 'X-Consul-Token': options.token }), ...options.headers },
      ...(options.signal === undefined ? {} : { signal: options.signal })
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          index: Number(res.headers['x-consul-index']),
          json: () => JSON.parse(text)
        })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Splits a PEM bundle into its certificates. */
export function pemBlocks (pem: string): string[] {
  return pem.match(/-----BEGIN [^-]+-----[\s\S]+?-----END [^-]+-----\n?/g) ?? []
}
