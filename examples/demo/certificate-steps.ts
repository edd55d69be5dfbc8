/**
 * The steps about certificates: 1, each service gets its identity; 5, a leaf renewal and a CA root rotation
 * while requests flow, with no failed request.
 */
import { performance } from 'node:perf_hooks'
import { DB, WEB } from './cast.js'
import type { Cast } from './cast.js'
import { Checks } from './step.js'
import type { Step, StoryContext } from './step.js'
import { Traffic } from './traffic.js'
import { describeError, seconds, waitFor } from './wait.js'

export const identities: Step = {
  name: '1 identities',
  title: 'web and db get their identities',
  expected: 'a leaf with its SPIFFE ID each',
  async run ({ cast, env, narrator }: StoryContext) {
    narrator.say('Each service is one `new ConnectService({ service })`. It asks the agent for its leaf ' +
      'certificate (a short-lived certificate that names the service) and for the CA roots, then keeps ' +
      'watching the agent so that both stay fresh.')
    const signal = AbortSignal.timeout(env.patienceMs)
    await Promise.all([cast.web.ready({ signal }), cast.db.ready({ signal })])
    const checks = new Checks()
    const lifetimes: string[] = []
    for (const svc of [cast.web, cast.db]) {
      const id = svc.identity
      if (!checks.that(id !== undefined, `${svc.service} has no identity`) || id === undefined) continue
      narrator.fact(`${svc.service} SPIFFE ID`, id.spiffeId)
      narrator.fact(`${svc.service} leaf expires`, `${formatTime(id.validBefore)} (in ${hoursUntil(id.validBefore)})`)
      checks.that(id.service === svc.service && id.spiffeId.endsWith(`/svc/${svc.service}`), `${svc.service}'s SPIFFE ID is ${id.spiffeId}`)
      checks.that(id.validBefore.getTime() > Date.now(), `${svc.service}'s leaf has expired`)
      lifetimes.push(hoursUntil(id.validBefore))
    }
    narrator.say('A SPIFFE ID reads spiffe://<trust domain>/ns/<namespace>/dc/<datacenter>/svc/<service>. ' +
      'The trust domain names the cluster\'s CA; the rest names the service. Peers check it on every connection.')
    return checks.outcome(`${WEB}, ${DB}: …/svc/${WEB}, …/svc/${DB}, valid ${[...new Set(lifetimes)].join(', ')}`)
  }
}

export const rotation: Step = {
  name: '5 renewal + rotation',
  title: 'A leaf renewal and a CA root rotation while requests flow',
  expected: '0 failed; new leaves and root',
  async run ({ cast, env, narrator }: StoryContext) {
    const { web, db } = cast
    narrator.say('Leaves are short-lived and the CA root can be rotated. Neither may cost a request: new ' +
      'connections get the new certificate, open ones keep theirs, and old and new roots are both trusted ' +
      'meanwhile. Four loops of web.fetch(\'https://db.service.consul/orders\') keep calling db throughout.')
    const before = { db: db.identity?.serial ?? '', web: web.identity?.serial ?? '', roots: rootSerials(cast) }
    const traffic = new Traffic(async () => {
      const res = await web.fetch('https://db.service.consul/orders')
      await res.text()
      if (res.status !== 200) throw new Error(`status ${res.status}`)
    }, 4)
    const checks = new Checks()
    try {
      await traffic.until(20, env.patienceMs)
      let renewed = before.db
      if (env.renewLeaf !== undefined) {
        narrator.say('The agent renews db\'s leaf now (a real agent does this by itself, at a random point ' +
          'between 60 % and 90 % of the leaf\'s lifetime).')
        const leaf = waitFor(db, 'leaf', 'db to receive its renewed leaf', env.patienceMs)
        await env.renewLeaf(DB)
        await leaf
        renewed = db.identity?.serial ?? ''
        checks.that(renewed !== before.db, 'db\'s leaf serial did not change on renewal')
      } else {
        narrator.say('No explicit renewal against a real agent: it renews each leaf by itself at a random ' +
          'point between 60 % and 90 % of its lifetime (72 h by default). The root rotation below makes it ' +
          're-issue every leaf anyway.')
      }
      narrator.say('Now the CA root rotates, as a new key in Consul\'s CA configuration makes it: the new root ' +
        'is cross-signed by the old one, and every leaf is re-issued from it.' +
        (env.kind === 'consul' ? ' A real agent re-issues leaves within about 30 s: this can take a moment.' : ''))
      const rotated = Promise.all([
        waitFor(db, 'leaf', 'db to receive a leaf from the new root', env.patienceMs),
        waitFor(web, 'leaf', 'web to receive a leaf from the new root', env.patienceMs),
        waitFor(db, 'roots', 'db to see the new roots', env.patienceMs),
        waitFor(web, 'roots', 'web to see the new roots', env.patienceMs)
      ])
      const rotatedAt = performance.now()
      await env.rotateRoot()
      await rotated
      const rotationMs = Math.round(performance.now() - rotatedAt)
      // Keep calling for a while with the new certificates on both sides.
      await traffic.until(traffic.counts.made + 20, env.patienceMs)
      const counts = await traffic.stop()
      const after = { db: db.identity?.serial ?? '', web: web.identity?.serial ?? '', roots: rootSerials(cast) }
      const newRoots = after.roots.filter((serial) => !before.roots.includes(serial))

      narrator.fact('rotation', `new leaves on both sides ${seconds(rotationMs)} after it`)
      narrator.fact('requests', `${counts.made} made, ${counts.failed} failed`)
      for (const failure of counts.failures) narrator.fact('failure', failure)
      narrator.fact('db leaf serial', before.db)
      if (env.renewLeaf !== undefined) narrator.fact('  after renewal', renewed)
      narrator.fact('  after rotation', after.db)
      narrator.fact('web leaf serial', before.web)
      narrator.fact('  after rotation', after.web)
      narrator.fact('CA root serial', before.roots.join(', '))
      narrator.fact('  new root', newRoots.join(', ') || '(none)')
      narrator.fact('  roots trusted now', String(after.roots.length))

      checks.that(counts.failed === 0, `${counts.failed} requests failed`)
      checks.that(after.db !== renewed && after.db !== before.db, 'db\'s leaf was not re-issued on rotation')
      checks.that(after.web !== before.web, 'web\'s leaf was not re-issued on rotation')
      checks.that(newRoots.length > 0, 'no new root is trusted')
      const leaves = env.renewLeaf === undefined ? 'new leaves' : 'renewed, then new leaves'
      return checks.outcome(`${counts.made} requests, ${counts.failed} failed; ${leaves}; new root`)
    } catch (err) {
      const counts = await traffic.stop()
      throw new Error(`${describeError(err)} (${counts.made} requests made, ${counts.failed} failed)`, { cause: err })
    }
  }
}

/** Serials of the roots db trusts (web trusts the same). */
function rootSerials (cast: Cast): string[] {
  return (cast.db.credentials.bundle?.roots ?? []).map((root) => root.serial)
}

/** `2025-11-24 20:31 UTC`. */
function formatTime (date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

/** `72 h`, or `45 min` under two hours. */
function hoursUntil (date: Date): string {
  const minutes = Math.round((date.getTime() - Date.now()) / 60_000)
  return minutes >= 120 ? `${Math.round(minutes / 60)} h` : `${minutes} min`
}
