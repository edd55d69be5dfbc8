#!/usr/bin/env node
// Prints the absolute path of a working `consul` binary, building it first when it is not cached.
//
// Consul is not published on npm or Debian, so the tests build a pinned release from Go modules:
// Consul's root go.mod has `replace` and `exclude` directives, which `go install pkg@version` refuses,
// so we generate a tiny wrapper module that requires Consul at the pinned version, carries Consul's
// `exclude` lines over, and builds `github.com/hashicorp/consul` from it.
//
// Overrides: CONSUL_BIN (use this binary, build nothing), CONSUL_VERSION (another pinned release),
// CONSUL_CACHE_DIR (where binaries are kept; default $XDG_CACHE_HOME/consul-connect-native or
// ~/.cache/consul-connect-native). Progress goes to stderr, the path alone to stdout.
import { spawnSync, execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync, renameSync, rmSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The Consul release the project is tested against. Keep README.md in step. */
export const PINNED_CONSUL_VERSION = '1.22.7'

/**
 * Module versions to require beside Consul, per release. A tagged Consul builds against its in-tree copies of
 * its sub-modules (`replace ./api`), which a wrapper module cannot use (module zips exclude nested modules), so
 * the published versions are used instead. Consul v1.22.7's CLI uses fields (ACLToken.Name,
 * ACLAuthMethod.TokenNameFormat) that its listed api v1.33.7 lacks; api v1.34.1 is the oldest published version
 * that has them.
 */
const EXTRA_REQUIRES = {
  '1.22.7': { 'github.com/hashicorp/consul/api': 'v1.34.1' }
}

const log = (msg) => process.stderr.write(`[consul:bin] ${msg}\n`)

export function cacheDir () {
  if (process.env.CONSUL_CACHE_DIR) return resolve(process.env.CONSUL_CACHE_DIR)
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache')
  return join(base, 'consul-connect-native')
}

function works (bin) {
  const r = spawnSync(bin, ['version'], { encoding: 'utf8', timeout: 30_000 })
  return r.status === 0 && /Consul v/.test(r.stdout)
}

/** The environment of every `go` command run in a wrapper module. */
export function goEnv () {
  // GOFLAGS from the machine may carry -mod=vendor etc.; the wrapper module wants a clean build.
  return { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false -mod=mod', GOTOOLCHAIN: process.env.GOTOOLCHAIN || 'auto' }
}

/** Runs `cmd` to completion (its output on ours unless `opts.stdio` says otherwise); throws when it fails. */
export function run (cmd, args, opts) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...opts })
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}`)
}

/**
 * Writes into `work` (an existing, empty directory) a Go module that requires Consul `version` the way
 * Consul's own go.mod builds: the upstream `go` line and `exclude` block (read from the module proxy with
 * `go mod download`) plus EXTRA_REQUIRES for that release. `files` (name → content: sources, tools.go) are
 * written beside go.mod first; `go` is the toolchain's command. The caller runs `go mod tidy` and `go build`
 * in `work` next (with goEnv()). Shared by the Consul build below and scripts/go-sdk-bin.mjs.
 */
export function writeConsulWrapper (work, { module, version, files = {}, go = 'go' }) {
  writeFileSync(join(work, 'go.mod'), `module ${module}\n\ngo 1.22\n\nrequire github.com/hashicorp/consul v${version}\n`)
  for (const [name, content] of Object.entries(files)) writeFileSync(join(work, name), content)
  const dl = spawnSync(go, ['mod', 'download', '-json', `github.com/hashicorp/consul@v${version}`], { cwd: work, env: goEnv(), encoding: 'utf8' })
  if (dl.error) throw new Error(`go mod download failed: ${dl.error.message}`)
  if (dl.status !== 0) throw new Error(`go mod download failed: ${dl.stderr}`)
  const info = JSON.parse(dl.stdout)
  const upstream = readFileSync(info.GoMod, 'utf8')
  const exclude = upstream.match(/^exclude\s*\([\s\S]*?^\)/m)?.[0] ?? ''
  const goLine = upstream.match(/^go\s+(\S+)/m)?.[1] ?? '1.22'
  const extra = Object.entries(EXTRA_REQUIRES[version] ?? {}).map(([mod, v]) => `require ${mod} ${v}\n`).join('')
  writeFileSync(join(work, 'go.mod'), `module ${module}\n\ngo ${goLine}\n\n${exclude}\n\nrequire github.com/hashicorp/consul v${version}\n${extra}`)
}

/** EXTRA_REQUIRES of `version`, for cache keys of builds that depend on them. */
export function extraRequires (version) {
  return { ...(EXTRA_REQUIRES[version] ?? {}) }
}

export function build (version = process.env.CONSUL_VERSION || PINNED_CONSUL_VERSION) {
  const dir = join(cacheDir(), `consul-${version}`)
  const bin = join(dir, 'consul')
  if (existsSync(bin) && works(bin)) return bin

  try { execFileSync('go', ['version'], { stdio: 'ignore' }) } catch {
    throw new Error('building Consul needs the Go toolchain on PATH (https://go.dev/dl/), or set CONSUL_BIN to an existing consul binary')
  }
  const work = join(dir, 'wrapper')
  rmSync(work, { recursive: true, force: true })
  mkdirSync(work, { recursive: true })
  const started = Date.now()
  log(`building Consul v${version} with Go into ${dir} (first run only; several minutes on 2 cores)`)

  // The exclude block must match Consul's own go.mod; read it from the module proxy via `go mod download`.
  log('step 1/3: downloading the Consul module')
  writeConsulWrapper(work, {
    module: 'consulbuild',
    version,
    files: { 'tools.go': '//go:build tools\n\npackage tools\n\nimport _ "github.com/hashicorp/consul"\n' }
  })

  log('step 2/3: resolving dependencies (go mod tidy)')
  run('go', ['mod', 'tidy'], { cwd: work, env: goEnv() })
  log('step 3/3: compiling (this is the long part)')
  const tmp = `${bin}.tmp-${process.pid}`
  run('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', tmp, 'github.com/hashicorp/consul'], { cwd: work, env: goEnv() })
  if (!works(tmp)) throw new Error(`the built binary ${tmp} does not run \`consul version\``)
  renameSync(tmp, bin)
  log(`built ${bin} in ${Math.round((Date.now() - started) / 1000)} s`)
  return bin
}

export function consulBin () {
  const override = process.env.CONSUL_BIN
  if (override) {
    const bin = resolve(override)
    if (!works(bin)) throw new Error(`CONSUL_BIN=${override} does not run \`consul version\``)
    return bin
  }
  return build()
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(consulBin() + '\n')
  } catch (err) {
    log(`error: ${err.message}`)
    process.exit(1)
  }
}
