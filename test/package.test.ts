/**
 * What `npm publish` would ship, checked the way a user meets it. `npm pack` runs `prepack` (the build, which
 * rewrites dist/ in this checkout) and writes the tarball to a temporary directory under .cache/ (gitignored).
 * The tarball is then checked by publint and by attw, extracted to that directory's node_modules, and compiled
 * and run by small consumer projects (test/package/consumer/): the package's own dependencies resolve from this
 * repository's node_modules further up the tree, so nothing touches the network.
 *
 * The package is ESM-only on purpose: a dual CommonJS build would need every `import.meta.url` rewritten and
 * would load two copies of the library (the dual-package hazard). CommonJS code loads it with `await import()`,
 * or with `require()` on Node >= 20.19 / 22.12 (require(esm) unflagged), which TypeScript >= 5.8 types under
 * `module: nodenext`. The consumers below exercise all three.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { dirname, isAbsolute, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { publint } from 'publint'
import { formatMessage } from 'publint/utils'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const FIXTURE = join(ROOT, 'test', 'package', 'consumer')
const NAME = 'consul-connect-native'

interface Ran { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

function run (command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 150_000 })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    child.once('error', reject)
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}

/** A process's outcome for a failure message: exit status and the tail of both streams. */
function show (r: Ran): string {
  const tail = (s: string): string => (s.length > 6000 ? `…${s.slice(-6000)}` : s).trimEnd()
  return `exit ${r.code ?? r.signal}\n--- stdout\n${tail(r.stdout)}\n--- stderr\n${tail(r.stderr)}`
}

/** The part of `npm pack --json` this test reads. */
interface PackResult {
  filename: string
  size: number
  unpackedSize: number
  entryCount: number
  files: Array<{ path: string, size: number }>
}

/** One problem in `attw --format json`'s analysis. */
interface Problem { kind: string, entrypoint?: string, resolutionKind?: string }

interface Manifest {
  version: string
  main?: string
  types?: string
  exports: unknown
  bin?: Record<string, string>
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
}

/** Every string leaf of an `exports` value (targets), whatever the nesting of subpaths and conditions. */
function targetsOf (value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (value === null || typeof value !== 'object') return []
  return Object.values(value).flatMap(targetsOf)
}

/** The package a file belongs to, from its last `node_modules/` segment (`@scope/name` or `name`). */
function packageOf (file: string): string | undefined {
  const parts = file.split(/[\\/]/)
  const at = parts.lastIndexOf('node_modules')
  if (at < 0) return undefined
  const first = parts[at + 1] ?? ''
  return first.startsWith('@') ? `${first}/${parts[at + 2] ?? ''}` : first
}

/** `name`'s package.json as Node would find it from `fromDir`, or undefined. */
async function manifestOf (name: string, fromDir: string): Promise<Manifest | undefined> {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const file = join(dir, 'node_modules', name, 'package.json')
    if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as Manifest
    if (dirname(dir) === dir) return undefined
  }
}

const dependencyNames = (m: Manifest): string[] =>
  Object.keys({ ...m.dependencies, ...m.peerDependencies, ...m.optionalDependencies })

describe('the published package (npm pack)', function () {
  // Packing builds the library (~15 s), and the consumer project is type-checked with skipLibCheck off (~10 s).
  this.timeout(180_000)

  let work: string
  let pkgDir: string
  let pack: PackResult
  let tarball: string
  let manifest: Manifest
  let shipped: Set<string>

  before(async () => {
    await mkdir(join(ROOT, '.cache'), { recursive: true })
    work = await mkdtemp(join(ROOT, '.cache', 'package-test-'))
    // --ignore-scripts=false: a user config with ignore-scripts would skip prepack and pack a stale dist/.
    const packed = await run('npm', ['pack', '--json', '--ignore-scripts=false', '--pack-destination', work], ROOT)
    assert.equal(packed.code, 0, `npm pack failed\n${show(packed)}`)
    // The JSON array is the last thing on stdout (the build's own output, if any, comes before it).
    const start = packed.stdout.search(/^\[/m)
    assert.ok(start >= 0, `no JSON from npm pack --json\n${show(packed)}`)
    pack = (JSON.parse(packed.stdout.slice(start)) as PackResult[])[0]!
    shipped = new Set(pack.files.map((f) => f.path))
    tarball = join(work, pack.filename)

    pkgDir = join(work, 'node_modules', NAME)
    await mkdir(pkgDir, { recursive: true })
    const untar = await run('tar', ['-xzf', tarball, '-C', pkgDir, '--strip-components=1'], work)
    assert.equal(untar.code, 0, `extracting the tarball failed\n${show(untar)}`)
    manifest = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as Manifest
  })

  after(async () => {
    if (work !== undefined) await rm(work, { recursive: true, force: true })
  })

  describe('contents', () => {
    it('holds only package.json, README.md, CHANGELOG.md, LICENSE and dist/**/*.{js,d.ts}', () => {
      const top = ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE']
      // No sources (lib/ is not shipped), no tests, bench, examples or scripts, no maps. The CLI's .d.ts files
      // are left out by `files`: dist/cli/ is an executable, not an importable entry point.
      const allowed = (p: string): boolean => top.includes(p) ||
        ((/^dist\/.+\.js$/.test(p) || /^dist\/(?!cli\/).+\.d\.ts$/.test(p)) && !/\.(test|spec)\.[^/]+$/.test(p))
      assert.deepEqual([...shipped].filter((p) => !allowed(p)), [], 'files that users do not need')
      assert.deepEqual(top.filter((p) => !shipped.has(p)), [], 'missing top-level files')
    })

    it('holds every exports target, main, types and the bin', () => {
      const targets = [...targetsOf(manifest.exports), manifest.main, manifest.types, ...Object.values(manifest.bin ?? {})]
        .filter((t): t is string => t !== undefined)
      assert.ok(targets.length >= 7, `targets: ${targets.join(', ')}`)
      const missing = targets.filter((t) => !shipped.has(t.replace(/^\.\//, '')))
      assert.deepEqual(missing, [], 'package.json names files that are not in the tarball')
    })

    it('has no sourceMappingURL comments (no maps are built, none are shipped)', async () => {
      const withMaps: string[] = []
      for (const p of shipped) {
        if (p.startsWith('dist/') && (await readFile(join(pkgDir, p), 'utf8')).includes('sourceMappingURL=')) withMaps.push(p)
      }
      assert.deepEqual(withMaps, [])
    })

    it('runs its bin from the extracted copy (package.json is found beside dist/)', async () => {
      const r = await run(process.execPath, [join(pkgDir, manifest.bin![NAME]!), '--version'], work, { PATH: process.env['PATH'] ?? '' })
      assert.equal(r.code, 0, show(r))
      assert.equal(r.stdout.trim(), `${NAME} ${manifest.version}`)
    })
  })

  describe('linters', () => {
    it('passes publint with no errors and no warnings', async () => {
      const data = await readFile(tarball)
      const { messages, pkg } = await publint({ pack: { tarball: new Uint8Array(data).buffer }, level: 'warning' })
      const lines = messages.map((m) => `${m.type} ${m.code}: ${formatMessage(m, pkg, { color: false }) ?? m.path.join('.')}`)
      assert.deepEqual(lines, [])
    })

    it('passes attw for node16 (from ESM) and bundler resolution; CommonJS resolution is knowingly ignored', async () => {
      // --profile esm-only ignores the node10 and node16-cjs resolutions: the package is ESM-only (see the top
      // of this file). The JSON still lists what those resolutions found; the test pins which problems are
      // accepted there, so that anything else (a wrong default export, masquerading types, ...) still fails.
      const r = await run(join(ROOT, 'node_modules', '.bin', 'attw'), [tarball, '--format', 'json', '--profile', 'esm-only'], work)
      let out: { analysis: { types: unknown, entrypoints: Record<string, unknown>, problems: Problem[] } }
      try {
        out = JSON.parse(r.stdout) as typeof out
      } catch {
        assert.fail(`attw printed no JSON\n${show(r)}`)
      }
      assert.ok(out.analysis.types, 'attw found no types')
      assert.deepEqual(Object.keys(out.analysis.entrypoints).sort(), Object.keys(manifest.exports as object).sort())
      const label = (p: Problem): string =>
        `${p.kind} at ${p.entrypoint ?? '(package)'} (${p.resolutionKind ?? 'any resolution'})`
      const accepted = (p: Problem): boolean =>
        // A CommonJS importer resolves to ESM: `import()` it, or require() it where Node allows (attw bundles
        // TypeScript 5.6, older than nodenext's require(esm) support, so it reports this for every entry point).
        (p.resolutionKind === 'node16-cjs' && p.kind === 'CJSResolvesToESM') ||
        // node10 (`moduleResolution: node`) predates `exports`: only the top-level `types` serves it, so subpaths
        // do not resolve there. Deprecated by TypeScript; not supported by an ESM-only package.
        (p.resolutionKind === 'node10' && p.kind === 'NoResolution' && p.entrypoint !== '.')
      const problems = out.analysis.problems.filter((p) => !accepted(p)).map(label)
      assert.deepEqual(problems, [], 'attw problems')
      assert.equal(r.code, 0, show(r))
    })
  })

  describe('consumer projects (module nodenext, strict, skipLibCheck off)', () => {
    let compiled: Ran
    const node = (file: string): Promise<Ran> =>
      // Plain node, no loader hooks from this test runner; PATH only, so no CONSUL_* of this machine leaks in.
      run(process.execPath, [join(work, 'out', file)], work, { PATH: process.env['PATH'] ?? '' })

    before(async () => {
      await cp(FIXTURE, work, { recursive: true })
      compiled = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', work, '--listFiles'], work)
    })

    it('type-check: an ES module and two CommonJS modules using the public API and /testing', () => {
      // Without --listFiles' file names, what is left of stdout is tsc's diagnostics.
      const diagnostics = compiled.stdout.split('\n').filter((l) => !isAbsolute(l.trim())).join('\n')
      assert.equal(compiled.code, 0, `tsc -p ${relative(ROOT, work)}\n${show({ ...compiled, stdout: diagnostics })}`)
    })

    it('see types only from the package and the packages it depends on', async () => {
      // The consumer brings TypeScript and @types/node; every other type it sees must come from the package or
      // a dependency of it (transitively): here devDependencies resolve too, but a user's install lacks them.
      const files = compiled.stdout.split('\n').map((l) => l.trim()).filter((l) => isAbsolute(l))
      assert.ok(files.length > 0, `no --listFiles output\n${show(compiled)}`)
      const fromRepo = files.filter((f) => !f.startsWith(work + sep) && !f.includes(`${sep}node_modules${sep}`))
      assert.deepEqual(fromRepo, [], 'the consumer must see the extracted package, not this checkout')

      const allowed = new Set([NAME, 'typescript', '@types/node'])
      const queue = ['@types/node', ...dependencyNames(manifest)]
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        allowed.add(name)
        const m = await manifestOf(name, work)
        for (const dep of m === undefined ? [] : dependencyNames(m)) if (!allowed.has(dep)) queue.push(dep)
      }
      const stray = new Map<string, string>()
      for (const f of files) {
        const owner = packageOf(f)
        if (owner !== undefined && !allowed.has(owner) && !stray.has(owner)) stray.set(owner, relative(ROOT, f))
      }
      assert.deepEqual([...stray].map(([owner, file]) => `${owner} (${file})`), [],
        `the package's types need these, but ${NAME} does not depend on them: add them to "dependencies"`)
    })

    it('run: the ES module starts a TestAgent and a ConnectService, awaits ready and closes both', async () => {
      const r = await node('consumer.mjs')
      assert.equal(r.code, 0, show(r))
      assert.equal(r.stdout.trim(), 'OK esm')
    })

    it('run: CommonJS with await import()', async () => {
      const r = await node('consumer.cjs')
      assert.equal(r.code, 0, show(r))
      assert.equal(r.stdout.trim(), 'OK cjs import()')
    })

    it('run: CommonJS with require() (require(esm), Node >= 20.19 / 22.12), the same module as import()', async function () {
      if (process.features.require_module !== true) this.skip()
      const r = await node('consumer-require.cjs')
      assert.equal(r.code, 0, show(r))
      assert.equal(r.stdout.trim(), 'OK cjs require()')
    })
  })
})
