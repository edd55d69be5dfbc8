#!/usr/bin/env node
// Prints the absolute path of `connect-bench` (bench/go-sdk/main.go: a Connect-native service built on
// Consul's own Go SDK, the reference the benchmarks compare against), building it first when it is not cached.
//
// The program imports github.com/hashicorp/consul/connect, which lives in Consul's root module, so it is
// built the way scripts/consul-bin.mjs builds Consul: a generated wrapper module in the cache directory (never
// in this repository) requires Consul at the pinned version with Consul's `exclude` block and the extra
// requires of that release, holds a copy of main.go, and `go build`s it. The binary is cached under a key made
// of main.go's content, the Consul version and those extra requires: an edit to main.go rebuilds, an unchanged
// source reuses the binary.
//
// Overrides: GO_SDK_BIN (use this binary, build nothing), CONSUL_VERSION and CONSUL_CACHE_DIR as for
// scripts/consul-bin.mjs. Progress goes to stderr prefixed [go-sdk:bin], the path alone to stdout.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PINNED_CONSUL_VERSION, cacheDir, extraRequires, goEnv, run, writeConsulWrapper } from './consul-bin.mjs'

/** The Go program's source in this repository. */
export const SOURCE = fileURLToPath(new URL('../bench/go-sdk/main.go', import.meta.url))

/** Bump when the way the wrapper is generated or built changes, so cached binaries are rebuilt. */
const RECIPE = '1'
const BIN_NAME = 'connect-bench'

const log = (msg) => process.stderr.write(`[go-sdk:bin] ${msg}\n`)

/** `{ go, version }` of the first working Go toolchain: `go` on PATH, then the usual /usr/local/go. */
function findGo () {
  for (const go of ['go', '/usr/local/go/bin/go']) {
    const r = spawnSync(go, ['version'], { encoding: 'utf8', timeout: 30_000 })
    if (r.status === 0) return { go, version: r.stdout.trim() }
  }
  throw new Error('building the Go SDK benchmark program (bench/go-sdk/main.go) needs the Go toolchain: `go` was not found on PATH ' +
    'nor at /usr/local/go/bin/go (https://go.dev/dl/); or set GO_SDK_BIN to an existing connect-bench binary')
}

/** True when `bin` runs `connect-bench version`. */
function works (bin) {
  const r = spawnSync(bin, ['version'], { encoding: 'utf8', timeout: 30_000 })
  if (r.status !== 0) return false
  try {
    return JSON.parse(r.stdout).event === 'version'
  } catch {
    return false
  }
}

/** The cache key of a build: main.go's content, the Consul version, its extra requires, the recipe. */
function cacheKey (source, version) {
  return createHash('sha256')
    .update(`${RECIPE}\0${version}\0${JSON.stringify(extraRequires(version))}\0`)
    .update(source)
    .digest('hex')
    .slice(0, 12)
}

/** Builds (or finds cached) connect-bench against Consul `version` and returns the binary's absolute path. */
export function build (version = process.env.CONSUL_VERSION || PINNED_CONSUL_VERSION) {
  const source = readFileSync(SOURCE)
  const key = cacheKey(source, version)
  const name = `go-sdk-${version}-${key}`
  const dir = join(cacheDir(), name)
  const bin = join(dir, BIN_NAME)
  if (existsSync(bin) && works(bin)) return bin

  const { go, version: goVersion } = findGo()
  const started = Date.now()
  log(`building ${BIN_NAME} (bench/go-sdk/main.go, key ${key}) against Consul v${version} with ${goVersion} into ${dir}`)
  mkdirSync(dir, { recursive: true })
  // Built in a directory of its own, renamed into place at the end, so two builds at once do not collide.
  const work = join(dir, `wrapper.tmp-${process.pid}`)
  rmSync(work, { recursive: true, force: true })
  mkdirSync(work, { recursive: true })
  // Go's own output goes to our stderr: stdout carries the path alone.
  const quiet = { cwd: work, env: goEnv(), stdio: ['ignore', 2, 2] }
  try {
    log('step 1/3: reading the Consul module\'s go.mod (go mod download)')
    writeConsulWrapper(work, { module: 'connectbench', version, files: { 'main.go': source }, go })
    log('step 2/3: resolving dependencies (go mod tidy)')
    run(go, ['mod', 'tidy'], quiet)
    log('step 3/3: compiling')
    const tmp = `${bin}.tmp-${process.pid}`
    run(go, ['build', '-trimpath', '-ldflags', '-s -w', '-o', tmp, '.'], quiet)
    if (!works(tmp)) {
      rmSync(tmp, { force: true })
      throw new Error(`the built binary ${tmp} does not run \`${BIN_NAME} version\``)
    }
    renameSync(tmp, bin)
    // Keep the wrapper module that produced the binary, for inspection (`go.mod`, `go.sum`, `main.go`).
    rmSync(join(dir, 'wrapper'), { recursive: true, force: true })
    renameSync(work, join(dir, 'wrapper'))
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  pruneStale(version, name)
  log(`built ${bin} in ${Math.round((Date.now() - started) / 1000)} s`)
  return bin
}

/** Removes the builds of earlier versions of main.go for the same Consul release. */
function pruneStale (version, keep) {
  const prefix = `go-sdk-${version}-`
  let entries = []
  try { entries = readdirSync(cacheDir()) } catch { return }
  for (const entry of entries) {
    if (entry.startsWith(prefix) && entry !== keep) rmSync(join(cacheDir(), entry), { recursive: true, force: true })
  }
}

/** GO_SDK_BIN if set (checked), else the cached or freshly built connect-bench. Synchronous, like consulBin(). */
export function goSdkBin () {
  const override = process.env.GO_SDK_BIN
  if (override) {
    const bin = resolve(override)
    if (!works(bin)) throw new Error(`GO_SDK_BIN=${override} does not run \`${BIN_NAME} version\``)
    return bin
  }
  return build()
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(goSdkBin() + '\n')
  } catch (err) {
    log(`error: ${err.message}`)
    process.exit(1)
  }
}
